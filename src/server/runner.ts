// One prediction at a time on one Engine, a bounded queue behind it. A prediction whose worker crashes, or
// that overruns the time limit, fails; a crashed or hung worker is replaced by a fresh Engine; the queue goes on.
import { basename, dirname } from "node:path";
import { Engine, EngineCrashedError, type EngineEvents } from "../engine/engine.js";
import type { WorkerInit } from "../engine/protocol.js";
import type { GenerateResult } from "../pipelines/kandinsky.js";
import type { ResolvedOutput, ResolvedRequest } from "../request/fields.js";
import { CancelledError, type ProgressEvent } from "../pipelines/progress.js";
import { publishOutputs, writeOutputs } from "./outputs.js";
import type { WebhookSender } from "./webhooks.js";
import type { WebhookEvent } from "./schema.js";
import { isStorageFull, isTerminal, type Prediction, type PredictionStore, type Status } from "./store.js";
import type { UrlPolicy } from "./url-policy.js";

/** What an events stream (GET /predictions/{id}/events) receives. */
export type StreamEvent =
  | { event: "start" | "output" | "completed"; data: Prediction }
  | { event: "logs"; data: { data: string } }
  | { event: "progress"; data: { stage: ProgressEvent["stage"]; step: number; total: number; preview?: { width: number; height: number; rgb: string } } };

export class QueueFullError extends Error {}

export interface JobSpec {
  prediction: Prediction;
  /** Admitted (admit.ts): checked, its seed drawn. */
  request: ResolvedRequest;
  output: ResolvedOutput;
  webhook?: WebhookSender;
  uploadTo?: string;
}

export class Job {
  readonly prediction: Prediction;
  readonly done: Promise<Prediction>;
  readonly abort = new AbortController();
  private resolveDone!: (p: Prediction) => void;
  private listeners = new Set<(e: StreamEvent) => void>();

  constructor(readonly spec: JobSpec) {
    this.prediction = spec.prediction;
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  /** A copy of the prediction as it is now. */
  snapshot(): Prediction {
    return structuredClone(this.prediction);
  }

  subscribe(fn: (e: StreamEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** To the event streams. */
  emit(e: StreamEvent): void {
    for (const fn of this.listeners) fn(e);
  }

  /** To the webhook, with the prediction as it is now. */
  hook(event: WebhookEvent): void {
    this.spec.webhook?.send(event, () => JSON.stringify(this.prediction));
  }

  log(line: string): void {
    this.prediction.logs += `${line}\n`;
    this.emit({ event: "logs", data: { data: `${line}\n` } });
    this.hook("logs");
  }

  settle(): void {
    this.emit({ event: "completed", data: this.snapshot() });
    this.hook("completed");
    this.listeners.clear();
    this.resolveDone(this.prediction);
  }
}

export interface RunnerOptions {
  queueSize: number;
  /** Time limit of one prediction. */
  timeoutMs: number;
  /** How long a run past its limit may take to reach its next step before its worker is killed. */
  stopGraceMs: number;
  outputDir: string;
  /** For uploads to a request's output_file_prefix. */
  urlPolicy: UrlPolicy;
  /** Makes the inference engine, at the start and to replace a crashed or hung one. Default: `new Engine(init, events)`. */
  createEngine?: (init: WorkerInit, events: EngineEvents) => Engine;
}

const SHUTDOWN_ERROR = "the server shut down before this prediction finished";
/** How long shutting down waits for the last webhooks (a supervisor's stop timeout is often 10 s). */
const SHUTDOWN_FLUSH_MS = 5000;

/** An error's message, saying so when it is a full disk. */
const storageMessage = (e: Error) => (isStorageFull(e) ? `the server's storage is full (${e.message})` : e.message);

/** Whether `p` settles (either way) within `ms`. */
async function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export class Runner {
  private engine?: Engine;
  private init?: WorkerInit;
  private readonly jobs = new Map<string, Job>();
  private readonly pending: Job[] = [];
  private current?: Job;
  private closing = false;

  constructor(private readonly store: PredictionStore, private readonly opts: RunnerOptions) {}

  /** Starts taking predictions, with models as `init` describes them. */
  setModels(init: WorkerInit): void {
    this.init = init;
    this.engine = this.newEngine();
    this.pump();
  }

  get hasInpaint(): boolean {
    return Boolean(this.init?.dirs.inpaint);
  }

  /** Whether a new prediction would be refused (409): one running and queueSize waiting. A prediction
   *  already finished, whose record is being written, holds no place. */
  get full(): boolean {
    let active = 0;
    for (const job of this.jobs.values()) if (!isTerminal(job.prediction.status)) active++;
    return active >= this.opts.queueSize + 1;
  }

  /** A prediction queued or running. */
  job(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  /** Queues a prediction (stored first); throws QueueFullError when the queue is full. */
  async submit(spec: JobSpec): Promise<Job> {
    if (this.full || this.closing) throw new QueueFullError(this.closing ? "the server is shutting down" : "the prediction queue is full; retry later");
    const job = new Job(spec);
    this.jobs.set(job.prediction.id, job);
    try {
      await this.store.save(job.prediction);
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

  /** Cancels a queued prediction at once, a running one at its next step. False when `id` is not active. */
  cancel(id: string): boolean {
    const job = this.jobs.get(id);
    if (!job) return false;
    const i = this.pending.indexOf(job);
    if (i >= 0) {
      this.pending.splice(i, 1);
      void this.finish(job, "canceled");
    } else {
      job.abort.abort();
    }
    return true;
  }

  /**
   * Fails what is queued and what runs, stops the inference process at once (waiting for its next step would
   * only delay the exit: the prediction fails either way) and sends the last webhooks, waiting SHUTDOWN_FLUSH_MS
   * at most (a record not written by then is failed at the next start).
   */
  async close(): Promise<void> {
    this.closing = true;
    const jobs = [...this.jobs.values()];
    for (const job of this.pending.splice(0)) void this.finish(job, "failed", SHUTDOWN_ERROR);
    if (this.engine) await this.stopEngine(this.engine);
    await settledWithin(Promise.all(jobs.map(async (j) => {
      await j.done;
      await j.spec.webhook?.flushed();
    })), SHUTDOWN_FLUSH_MS);
  }

  /** A new engine whose inference process starts at once, so that its provider check is told at the start. */
  private newEngine(): Engine {
    const events: EngineEvents = { onWarning: (message) => console.warn(`kandinsky serve: warning: ${message}`) };
    const engine = this.opts.createEngine ? this.opts.createEngine(this.init!, events) : new Engine(this.init!, events);
    engine.launch();
    return engine;
  }

  /** Stops an engine's inference process (SIGKILL), bounded in time all the same. */
  private async stopEngine(engine: Engine): Promise<void> {
    await settledWithin(engine.close(), 5000);
  }

  private async replaceEngine(why: string): Promise<void> {
    console.warn(`kandinsky serve: ${why}; starting a new inference worker`);
    const old = this.engine!;
    this.engine = this.newEngine();
    await this.stopEngine(old);
  }

  private pump(): void {
    if (this.current || !this.engine || this.closing) return;
    const job = this.pending.shift();
    if (!job) return;
    this.current = job;
    void this.execute(job).finally(() => {
      this.current = undefined;
      this.pump();
    });
  }

  private async execute(job: Job): Promise<void> {
    const p = job.prediction;
    const { seed } = job.spec.request;
    p.status = "processing";
    p.started_at = new Date().toISOString();
    p.metrics.seed = seed;
    try {
      await this.store.save(p);
      job.emit({ event: "start", data: job.snapshot() });
      job.log(`Using seed: ${seed}`);
      const result = await this.generate(job, job.spec.request);
      const { outputFormat, outputQuality } = job.spec.output;
      const files = await writeOutputs(result.images, p.id, outputFormat, outputQuality, this.opts.outputDir).catch((e: Error) => {
        throw new Error(`the outputs could not be stored: ${storageMessage(e)}`);
      });
      p.output = await publishOutputs(files, this.opts.urlPolicy, job.spec.uploadTo);
      job.emit({ event: "output", data: job.snapshot() });
      job.hook("output");
      await this.finish(job, "succeeded");
    } catch (e) {
      if (e instanceof CancelledError) await this.finish(job, this.closing ? "failed" : "canceled", this.closing ? SHUTDOWN_ERROR : undefined);
      else await this.finish(job, "failed", this.closing ? SHUTDOWN_ERROR : storageMessage(e as Error));
    }
  }

  /**
   * Engine.run under the time limit. A run past it is cancelled like a client cancel (the worker stops at its
   * next step and stays usable, models loaded); one that has not stopped within stopGraceMs has a hung (or
   * very slow) worker, which is killed and replaced before the queue goes on, as is a crashed one.
   */
  private async generate(job: Job, request: ResolvedRequest): Promise<GenerateResult> {
    const run = this.engine!.run(request, {
      signal: job.abort.signal,
      preview: true,
      onWarning: (message) => job.log(`warning: ${message}`),
      onProgress: (e) => {
        job.emit({ event: "progress", data: { stage: e.stage, step: e.step, total: e.total, preview: e.preview && {
          width: e.preview.width, height: e.preview.height, rgb: Buffer.from(e.preview.data).toString("base64") } } });
        job.log(`${e.stage} ${e.step}/${e.total}`);
      },
      onLoad: (component, phase, ms) => {
        if (phase === "done") job.log(`loaded ${basename(dirname(component))}/${basename(component)} in ${Math.round(ms ?? 0)} ms`);
      },
    });
    run.catch(() => {}); // awaited below, or abandoned with a stuck worker
    if (!(await settledWithin(run, this.opts.timeoutMs))) {
      job.abort.abort();
      const stopped = await settledWithin(run, this.opts.stopGraceMs);
      if (!stopped && !this.closing) {
        await this.replaceEngine(`a prediction overran its time limit and its worker did not reach its next step within ${this.opts.stopGraceMs / 1000} s`);
      }
      throw new Error(`the prediction took longer than the server's limit of ${this.opts.timeoutMs / 1000} s`);
    }
    try {
      return await run;
    } catch (e) {
      if (e instanceof EngineCrashedError && !this.closing) await this.replaceEngine(e.message);
      throw e;
    }
  }

  /** Terminal state: recorded on disk first, then reported (webhook, event streams, waiting requests). */
  private async finish(job: Job, status: Status, error?: string): Promise<void> {
    const p = job.prediction;
    p.status = status;
    p.error = error ?? null;
    p.completed_at = new Date().toISOString();
    if (p.started_at) p.metrics.predict_time = (Date.parse(p.completed_at) - Date.parse(p.started_at)) / 1000;
    if (status !== "succeeded") p.output = null;
    try {
      await this.store.save(p);
    } catch (e) {
      // Reported failed; the record reaches the disk when it has room again (else the next start fails it).
      p.status = "failed";
      p.output = null;
      p.error = `the prediction could not be stored: ${storageMessage(e as Error)}`;
      await this.store.saveEventually(p);
    }
    this.jobs.delete(p.id);
    job.settle();
  }
}
