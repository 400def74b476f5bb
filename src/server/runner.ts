// One prediction at a time on one Engine, a bounded queue behind it: the single-process server's queue. A
// prediction whose worker crashes, or that overruns the time limit, fails (see execute.ts); the queue goes on.
import type { WorkerInit } from "../engine/protocol.js";
import type { ResolvedOutput, ResolvedRequest } from "../request/fields.js";
import { QueueFullError } from "./backend.js";
import { EngineSlot, runPrediction, SHUTDOWN_ERROR, settledWithin, storageMessage, type CreateEngine } from "./execute.js";
import { Job, type StreamEvent } from "./job.js";
import type { OutputStore } from "./outputs.js";
import { isTerminal, type Prediction, type PredictionStore } from "./store.js";
import type { UrlPolicy } from "./url-policy.js";
import type { WebhookSender } from "./webhooks.js";

export interface JobSpec {
  prediction: Prediction;
  /** Admitted (admit.ts): checked, its seed drawn. */
  request: ResolvedRequest;
  output: ResolvedOutput;
  webhook?: WebhookSender;
  uploadTo?: string;
}

/** A prediction of this process: in memory while it is active, on disk at each change of state. */
export class LocalJob extends Job {
  readonly done: Promise<Prediction>;
  private resolveDone!: (p: Prediction) => void;
  private listeners = new Set<(e: StreamEvent) => void>();

  constructor(readonly spec: JobSpec, private readonly store: PredictionStore, private readonly onSettled: (job: LocalJob) => void) {
    super(spec.prediction, spec.webhook);
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  subscribe(fn: (e: StreamEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  override emit(e: StreamEvent): void {
    for (const fn of this.listeners) fn(e);
  }

  override save(): Promise<void> {
    return this.store.save(this.prediction);
  }

  /** A terminal state the disk refuses is reported failed, and reaches the disk when it has room again (else the next start fails it). */
  protected override async saveFinal(p: Prediction): Promise<boolean> {
    try {
      await this.store.save(p);
    } catch (e) {
      p.status = "failed";
      p.output = null;
      p.error = `the prediction could not be stored: ${storageMessage(e as Error)}`;
      await this.store.saveEventually(p);
    }
    return true;
  }

  protected override settled(): void {
    this.onSettled(this);
    this.listeners.clear();
    this.resolveDone(this.prediction);
  }

  /** Flushes the last webhooks. */
  flushed(): Promise<void> {
    return this.webhook?.flushed() ?? Promise.resolve();
  }
}

export interface RunnerOptions {
  queueSize: number;
  /** Time limit of one prediction. */
  timeoutMs: number;
  /** How long a run past its limit may take to reach its next step before its worker is killed. */
  stopGraceMs: number;
  outputs: OutputStore;
  /** For uploads to a request's output_file_prefix. */
  urlPolicy: UrlPolicy;
  createEngine?: CreateEngine;
}

/** How long shutting down waits for the last webhooks (a supervisor's stop timeout is often 10 s). */
export const SHUTDOWN_FLUSH_MS = 5000;

export class Runner {
  private slot?: EngineSlot;
  private readonly jobs = new Map<string, LocalJob>();
  private readonly pending: LocalJob[] = [];
  private current?: LocalJob;
  private closing = false;
  /** Set by drain(): new predictions are refused, the queue runs to its end. */
  private draining = false;

  constructor(private readonly store: PredictionStore, private readonly opts: RunnerOptions) {}

  /** Starts taking predictions, with models as `init` describes them. */
  setModels(init: WorkerInit): void {
    this.slot = new EngineSlot(init, "kandinsky serve", { createEngine: this.opts.createEngine });
    this.pump();
  }

  get hasInpaint(): boolean {
    return this.slot?.hasInpaint ?? false;
  }

  /** Whether a new prediction would be refused (409): one running and queueSize waiting. */
  get full(): boolean {
    let active = 0;
    for (const job of this.jobs.values()) if (!isTerminal(job.prediction.status)) active++;
    return active >= this.opts.queueSize + 1;
  }

  /** A prediction queued or running. */
  job(id: string): LocalJob | undefined {
    return this.jobs.get(id);
  }

  /** Queues a prediction (stored first); throws QueueFullError when the queue is full. */
  async submit(spec: JobSpec): Promise<LocalJob> {
    const stopping = this.closing || this.draining;
    if (this.full || stopping) throw new QueueFullError(stopping ? "the server is shutting down" : "the prediction queue is full; retry later");
    const job = new LocalJob(spec, this.store, (j) => this.jobs.delete(j.prediction.id));
    this.jobs.set(job.prediction.id, job);
    try {
      await job.save();
    } catch (e) {
      this.jobs.delete(job.prediction.id);
      throw e;
    }
    job.hook("start");
    this.pending.push(job);
    // On the next turn, so that the creating request still answers with status "starting", as Cog does.
    setImmediate(() => this.pump());
    return job;
  }

  /** Cancels a queued prediction at once (resolving once that is recorded), a running one at its next step. */
  async cancel(id: string): Promise<void> {
    const job = this.jobs.get(id);
    if (!job) return;
    const i = this.pending.indexOf(job);
    if (i >= 0) {
      this.pending.splice(i, 1);
      await job.finish("canceled");
    } else {
      job.abort.abort();
    }
  }

  /** Refuses new predictions and resolves when those queued and running have ended (a graceful shutdown). */
  async drain(): Promise<void> {
    this.draining = true;
    await Promise.all([...this.jobs.values()].map((j) => j.done));
  }

  /**
   * Fails what is queued and what runs, stops the inference process at once (waiting for its next step would
   * only delay the exit: the prediction fails either way) and sends the last webhooks, waiting SHUTDOWN_FLUSH_MS
   * at most (a record not written by then is failed at the next start).
   */
  async close(): Promise<void> {
    this.closing = true;
    const jobs = [...this.jobs.values()];
    for (const job of this.pending.splice(0)) void job.finish("failed", SHUTDOWN_ERROR);
    await this.slot?.close();
    await settledWithin(Promise.all(jobs.map(async (j) => {
      await j.done;
      await j.flushed();
    })), SHUTDOWN_FLUSH_MS);
  }

  private pump(): void {
    if (this.current || !this.slot || this.closing) return;
    const job = this.pending.shift();
    if (!job) return;
    this.current = job;
    const { timeoutMs, stopGraceMs, outputs, urlPolicy } = this.opts;
    void runPrediction(job, this.slot, job.spec.request, job.spec.output, {
      timeoutMs, stopGraceMs, outputs, urlPolicy, uploadTo: job.spec.uploadTo, closing: () => this.closing,
    }).finally(() => {
      this.current = undefined;
      this.pump();
    });
  }
}
