// A prediction being run, as every backend reports it: its record, its event streams, its webhook. Where the
// record is kept and where events go is the backend's (LocalJob: memory and the data folder; the cluster's
// worker: Redis).
import type { ProgressEvent } from "../pipelines/progress.js";
import type { WebhookEvent } from "./schema.js";
import type { Prediction, Status } from "./store.js";
import type { WebhookSender } from "./webhooks.js";

/** What an events stream (GET /predictions/{id}/events) receives. */
export type StreamEvent =
  | { event: "start" | "output" | "completed"; data: Prediction }
  | { event: "logs"; data: { data: string } }
  | { event: "progress"; data: { stage: ProgressEvent["stage"]; step: number; total: number; preview?: { width: number; height: number; rgb: string } } };

export abstract class Job {
  readonly abort = new AbortController();

  constructor(readonly prediction: Prediction, protected readonly webhook?: WebhookSender) {}

  /** A copy of the prediction as it is now. */
  snapshot(): Prediction {
    return structuredClone(this.prediction);
  }

  /** To the event streams. */
  abstract emit(e: StreamEvent): void;

  /** Stores the record as it is now. */
  abstract save(): Promise<void>;

  /** Stores the terminal record `p` (and may amend it); false when it is no longer this job's to report (the cluster ran it elsewhere). */
  protected abstract saveFinal(p: Prediction): Promise<boolean>;

  /** After the terminal state is reported. */
  protected abstract settled(): void;

  /** To the webhook, with the prediction as it is now. */
  hook(event: WebhookEvent): void {
    this.webhook?.send(event, () => JSON.stringify(this.prediction));
  }

  /** After the logs grew, before the line is reported: where records are read from elsewhere, they are written here. */
  protected logged(): void {}

  log(line: string): void {
    this.prediction.logs += `${line}\n`;
    this.logged();
    this.emit({ event: "logs", data: { data: `${line}\n` } });
    this.hook("logs");
  }

  /**
   * Terminal state: recorded first, then reported (webhook, event streams, waiting requests). Until it is
   * recorded, readers (a poll, a throttled logs webhook) see the prediction as it was.
   */
  async finish(status: Status, error?: string): Promise<void> {
    const p: Prediction = { ...this.prediction, metrics: { ...this.prediction.metrics }, status, error: error ?? null, completed_at: new Date().toISOString() };
    if (p.started_at) p.metrics.predict_time = (Date.parse(p.completed_at!) - Date.parse(p.started_at)) / 1000;
    if (status !== "succeeded") p.output = null;
    if (!(await this.saveFinal(p))) return;
    Object.assign(this.prediction, p);
    this.emit({ event: "completed", data: this.snapshot() });
    this.hook("completed");
    this.settled();
  }
}
