// Webhook delivery as Cog does it: the prediction's state POSTed on start, output, logs and completed
// (filtered by webhook_events_filter), output/logs at most every 500 ms, deliveries in order, the terminal
// one retried with backoff.
import type { WebhookEvent } from "./schema.js";

const THROTTLE_MS = 500;
const TIMEOUT_MS = 10_000;
const TERMINAL_ATTEMPTS = 6;
const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);

export class WebhookSender {
  private lastSent = 0;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly url: string, private readonly filter: ReadonlySet<WebhookEvent>) {}

  /** Queues a delivery of the prediction as `body()` gives it now (called only when it is to be sent). */
  send(event: WebhookEvent, body: () => string): void {
    if (!this.filter.has(event)) return;
    const throttled = event === "output" || event === "logs";
    if (throttled && Date.now() - this.lastSent < THROTTLE_MS) return;
    this.lastSent = Date.now();
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
        const res = await fetch(this.url, {
          method: "POST", body, headers: { "content-type": "application/json" }, signal: AbortSignal.timeout(TIMEOUT_MS),
        });
        await res.body?.cancel();
        if (res.ok || !RETRY_STATUSES.has(res.status)) return;
        why = `HTTP ${res.status}`;
      } catch (e) {
        why = (e as Error).message;
      }
      if (i >= attempts) {
        console.warn(`webhook ${this.url}: giving up after ${i} attempt(s): ${why}`);
        return;
      }
      await new Promise((r) => setTimeout(r, 100 * 2 ** i));
    }
  }
}
