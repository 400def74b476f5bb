// Webhook delivery as Cog does it: the prediction's state POSTed on start, output, logs and completed
// (filtered by webhook_events_filter), deliveries in order, the terminal one retried with backoff.
// Only logs are throttled, on their own clock: at most one delivery per THROTTLE_MS, the latest state sent when
// the window closes. start, output and completed are state changes a client acts on, and are always sent.
import { discard, outbound } from "./outbound.js";
import type { WebhookEvent } from "./schema.js";
import type { UrlPolicy } from "./url-policy.js";

const THROTTLE_MS = 500;
const TIMEOUT_MS = 10_000;
const TERMINAL_ATTEMPTS = 6;
const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);

export class WebhookSender {
  private readonly url: URL;
  private lastLogs = 0;
  /** A logs delivery waiting for the throttle window to close. */
  private logsTimer?: NodeJS.Timeout;
  private chain: Promise<void> = Promise.resolve();

  constructor(url: string, private readonly filter: ReadonlySet<WebhookEvent>, private readonly policy: UrlPolicy) {
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
    this.chain = this.chain.then(() => this.post(json, event === "completed" ? TERMINAL_ATTEMPTS : 1));
  }

  /** Resolves when every queued delivery has been made or given up. */
  flushed(): Promise<void> {
    return this.chain;
  }

  private async post(body: string, attempts: number): Promise<void> {
    for (let i = 1; ; i++) {
      let why: string;
      try {
        const res = await outbound(this.url, {
          method: "POST", body, headers: { "content-type": "application/json" }, signal: AbortSignal.timeout(TIMEOUT_MS), policy: this.policy,
        });
        discard(res);
        if (res.ok || !RETRY_STATUSES.has(res.status)) return;
        why = `HTTP ${res.status}`;
      } catch (e) {
        why = (e as Error).message;
      }
      if (i >= attempts) {
        console.warn(`webhook ${this.url.href}: giving up after ${i} attempt(s): ${why}`);
        return;
      }
      await new Promise((r) => setTimeout(r, 100 * 2 ** i));
    }
  }
}
