// A prediction reported through Redis: its record written by the attempt that owns it, its events published to
// the fronts. A worker runs one per job it takes; a front uses one to cancel a prediction no worker has taken.
import { Job, type StreamEvent } from "../server/job.js";
import type { Prediction } from "../server/store.js";
import type { WebhookSender } from "../server/webhooks.js";
import type { Records } from "./records.js";

const warn = (e: Error) => console.warn(`kandinsky: reporting a prediction to Redis failed: ${e.message}`);

export class RemoteJob extends Job {
  /** Set when another attempt owns the prediction (this worker was presumed dead): nothing more is reported. */
  lost = false;

  constructor(prediction: Prediction, private readonly attempt: string, private readonly records: Records, webhook: WebhookSender | undefined, private readonly ttlS: number) {
    super(prediction, webhook);
  }

  override emit(e: StreamEvent): void {
    if (!this.lost) this.records.publish(this.prediction.id, e).catch(warn);
  }

  override async save(): Promise<void> {
    if (!this.lost && !(await this.records.update(this.prediction, this.attempt))) this.disown();
  }

  protected override logged(): void {
    this.save().catch(warn);
  }

  protected override async saveFinal(p: Prediction): Promise<boolean> {
    if (this.lost) return false;
    const owned = await this.records.update(p, this.attempt, this.ttlS);
    if (!owned) this.disown();
    return owned;
  }

  /** Marks the completed webhook delivered, so that a retry of a job whose worker died right after finishing does not send it again. */
  protected override settled(): void {
    if (this.webhook) this.webhook.flushed().then(() => this.records.markHooked(this.prediction.id, this.ttlS)).catch(warn);
  }

  /** Resolves when the webhook deliveries queued so far have been made or given up. */
  flushed(): Promise<void> {
    return this.webhook?.flushed() ?? Promise.resolve();
  }

  /** Stops the run at its next step and reports nothing more: a stopping worker gives the prediction back to the queue. */
  handBack(): void {
    this.disown();
  }

  private disown(): void {
    this.lost = true;
    this.abort.abort();
  }
}
