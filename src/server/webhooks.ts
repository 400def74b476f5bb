// Webhook delivery as Cog does it: the prediction's state POSTed on start, output, logs and completed
// (filtered by webhook_events_filter), deliveries in order, the terminal one retried with backoff.
// Only logs are throttled, on their own clock: at most one delivery per THROTTLE_MS, the latest state sent when
// the window closes. start, output and completed are state changes a client acts on, and are always sent.
import { discard, outbound } from "./outbound.js";
import type { WebhookEvent } from "./schema.js";
import type { UrlPolicy } from "./url-policy.js";

/** At most one logs delivery per this many ms. */
export const THROTTLE_MS = 500;
const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);

export interface Delivery {
  /** Attempts at the terminal delivery (each other one is tried once). */
  attempts: number;
  /** Wait before the second attempt, doubled before each later one. */
  firstDelayMs: number;
  /** Time limit of one attempt. */
  timeoutMs: number;
}

/** Waits of 0.2, 0.4, 0.8, 1.6 and 3.2 s between six attempts, as Cog retries a terminal webhook. */
export const DELIVERY: Delivery = { attempts: 6, firstDelayMs: 200, timeoutMs: 10_000 };

export class WebhookSender {
  private readonly url: URL;
  private lastLogs = 0;
  /** A logs delivery waiting for the throttle window to close. */
  private logsTimer?: NodeJS.Timeout;
  private chain: Promise<void> = Promise.resolve();

  constructor(url: string, private readonly filter: ReadonlySet<WebhookEvent>, private readonly policy: UrlPolicy,
              private readonly delivery = DELIVERY) {
    this.url = new URL(url);
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
        const res = await outbound(this.url, {
          method: "POST", body, headers: { "content-type": "application/json" }, signal, policy: this.policy,
        });
        discard(res);
        if (res.ok || !RETRY_STATUSES.has(res.status)) return;
        why = `HTTP ${res.status}`;
      } catch (e) {
        why = signal.aborted ? `no answer within ${this.delivery.timeoutMs / 1000} s` : (e as Error).message;
      }
      if (i >= attempts) {
        console.warn(`webhook ${this.url.href}: giving up after ${i} attempt(s): ${why}`);
        return;
      }
      await new Promise((r) => setTimeout(r, this.delivery.firstDelayMs * 2 ** (i - 1)));
    }
  }
}
