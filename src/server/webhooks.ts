// Webhook delivery as coglet (Cog 0.22) does it: the prediction's state POSTed on start, output, logs and
// completed (filtered by webhook_events_filter), deliveries in order, the terminal one retried with backoff on
// 429, 5xx and connection errors. Only logs are throttled, on their own clock: at most one delivery per
// THROTTLE_MS, the latest state sent when the window closes; start, output and completed are state changes a
// client acts on, and are always sent. WEBHOOK_AUTH_TOKEN, when set, goes as a bearer token, and the creating
// request's trace context (W3C traceparent / tracestate) with every delivery.
import { discard, outbound } from "./outbound.js";
import type { WebhookEvent } from "./schema.js";
import type { UrlPolicy } from "./url-policy.js";

/** At most one logs delivery per this many ms. */
export const THROTTLE_MS = 500;
const retryable = (status: number) => status === 429 || status >= 500;

export interface Delivery {
  /** Attempts at the terminal delivery (each other one is tried once). */
  attempts: number;
  /** Wait before the second attempt, doubled before each later one... */
  firstDelayMs: number;
  /** ...up to this. */
  maxDelayMs: number;
  /** Time limit of one attempt. */
  timeoutMs: number;
}

/** coglet's: 12 retries after the first attempt, waiting 100 ms·2^n before the n-th (n capped at 10), 30 s each. */
export const DELIVERY: Delivery = { attempts: 13, firstDelayMs: 200, maxDelayMs: 100 * 2 ** 10, timeoutMs: 30_000 };

export interface WebhookHeaders {
  traceparent?: string;
  tracestate?: string;
  /** Sent as `Authorization: Bearer …`. Default: the WEBHOOK_AUTH_TOKEN environment variable. */
  authToken?: string;
}

export class WebhookSender {
  private readonly url: URL;
  private readonly headers: Record<string, string>;
  private lastLogs = 0;
  /** A logs delivery waiting for the throttle window to close. */
  private logsTimer?: NodeJS.Timeout;
  private chain: Promise<void> = Promise.resolve();

  constructor(url: string, private readonly filter: ReadonlySet<WebhookEvent>, private readonly policy: UrlPolicy,
              private readonly delivery = DELIVERY, h: WebhookHeaders = {}) {
    this.url = new URL(url);
    const token = h.authToken ?? process.env.WEBHOOK_AUTH_TOKEN;
    this.headers = {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(h.traceparent ? { traceparent: h.traceparent } : {}),
      ...(h.tracestate ? { tracestate: h.tracestate } : {}),
    };
  }

  /** Queues a delivery of the prediction as `body()` gives it when it is sent. */
  send(event: WebhookEvent, body: () => string): void {
    if (!this.filter.has(event)) return;
    if (event === "completed") {
      clearTimeout(this.logsTimer);
      this.logsTimer = undefined;
    } else if (event === "logs") {
      const wait = this.lastLogs + THROTTLE_MS - Date.now();
      if (wait > 0) {
        this.logsTimer ??= setTimeout(() => {
          this.logsTimer = undefined;
          this.send("logs", body);
        }, wait).unref();
        return;
      }
      this.lastLogs = Date.now();
    }
    const json = body();
    this.chain = this.chain.then(() => this.post(json, event === "completed" ? this.delivery.attempts : 1));
  }

  /** Resolves when every queued delivery has been made or given up. */
  flushed(): Promise<void> {
    return this.chain;
  }

  private async post(body: string, attempts: number): Promise<void> {
    for (let i = 1; ; i++) {
      let why: string;
      const signal = AbortSignal.timeout(this.delivery.timeoutMs);
      try {
        const res = await outbound(this.url, { method: "POST", body, headers: this.headers, signal, policy: this.policy });
        discard(res);
        // Any other answer is the receiver's own (a 400 included): not a failure to retry or report.
        if (res.ok || !retryable(res.status)) return;
        why = `HTTP ${res.status}`;
      } catch (e) {
        why = signal.aborted ? `no answer within ${this.delivery.timeoutMs / 1000} s` : (e as Error).message;
      }
      if (i >= attempts) {
        console.warn(`webhook ${this.url.href}: giving up after ${i} attempt(s): ${why}`);
        return;
      }
      await new Promise((r) => setTimeout(r, Math.min(this.delivery.maxDelayMs, this.delivery.firstDelayMs * 2 ** (i - 1))));
    }
  }
}
