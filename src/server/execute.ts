// One prediction run on one inference process, the same for the single-process server and a cluster's worker:
// seed, progress and logs, outputs stored before success is reported, the time limit, and a crashed or hung
// inference process replaced so that the next prediction runs.
import { basename, dirname } from "node:path";
import { Engine, EngineCrashedError, type EngineEvents } from "../engine/engine.js";
import type { WorkerInit } from "../engine/protocol.js";
import type { GenerateResult } from "../pipelines/kandinsky.js";
import type { ResolvedOutput, ResolvedRequest } from "../request/fields.js";
import { CancelledError } from "../pipelines/progress.js";
import type { Job } from "./job.js";
import { encodeOutputs, publishOutputs, type OutputStore } from "./outputs.js";
import { isStorageFull } from "./store.js";
import type { UrlPolicy } from "./url-policy.js";

export const SHUTDOWN_ERROR = "the server shut down before this prediction finished";

/** An error's message, saying so when it is a full disk. */
export const storageMessage = (e: Error) => (isStorageFull(e) ? `the server's storage is full (${e.message})` : e.message);

/** Whether `p` settles (either way) within `ms`. */
export async function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Makes an inference engine, at the start and to replace a crashed or hung one. Default: `new Engine(init, events)`. */
export type CreateEngine = (init: WorkerInit, events: EngineEvents) => Engine;

/** One inference process at a time, replaced when it crashes or hangs. */
export class EngineSlot {
  private engine: Engine;

  /**
   * `who` names the process in its console warnings ("kandinsky serve"); `onWarning` also hears the inference
   * process's own (its provider check: the device asked for is not available and cpu is used).
   */
  constructor(private readonly init: WorkerInit, private readonly who: string, private readonly o: { createEngine?: CreateEngine; onWarning?: (message: string) => void } = {}) {
    this.engine = this.newEngine();
  }

  get hasInpaint(): boolean {
    return Boolean(this.init.dirs.inpaint);
  }

  /** A new engine whose inference process starts at once, so that its provider check is told at the start. */
  private newEngine(): Engine {
    const events: EngineEvents = {
      onWarning: (message) => {
        console.warn(`${this.who}: warning: ${message}`);
        this.o.onWarning?.(message);
      },
    };
    const engine = this.o.createEngine ? this.o.createEngine(this.init, events) : new Engine(this.init, events);
    engine.launch();
    return engine;
  }

  /** Stops the inference process (SIGKILL), bounded in time all the same. */
  async close(): Promise<void> {
    await settledWithin(this.engine.close(), 5000);
  }

  async replace(why: string): Promise<void> {
    console.warn(`${this.who}: ${why}; starting a new inference worker`);
    const old = this.engine;
    this.engine = this.newEngine();
    await settledWithin(old.close(), 5000);
  }

  /**
   * Engine.run under the time limit. A run past it is cancelled like a client cancel (the worker stops at its
   * next step and stays usable, models loaded); one that has not stopped within stopGraceMs has a hung (or
   * very slow) worker, which is killed and replaced before the queue goes on, as is a crashed one.
   */
  async generate(job: Job, request: ResolvedRequest, o: RunOptions): Promise<GenerateResult> {
    const run = this.engine.run(request, {
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
    if (!(await settledWithin(run, o.timeoutMs))) {
      job.abort.abort();
      const stopped = await settledWithin(run, o.stopGraceMs);
      if (!stopped && !o.closing()) {
        await this.replace(`a prediction overran its time limit and its worker did not reach its next step within ${o.stopGraceMs / 1000} s`);
      }
      throw new Error(`the prediction took longer than the server's limit of ${o.timeoutMs / 1000} s`);
    }
    try {
      return await run;
    } catch (e) {
      if (e instanceof EngineCrashedError && !o.closing()) await this.replace(e.message);
      throw e;
    }
  }
}

export interface RunOptions {
  /** Time limit of one prediction. */
  timeoutMs: number;
  /** How long a run past its limit may take to reach its next step before its worker is killed. */
  stopGraceMs: number;
  outputs: OutputStore;
  /** For uploads (a request's output_file_prefix, the server's --upload-url). */
  urlPolicy: UrlPolicy;
  uploadTo?: string;
  /** Whether the process is shutting down: what stops the run then is the shutdown. */
  closing: () => boolean;
}

/** Runs a prediction to its terminal state; never throws. */
export async function runPrediction(job: Job, slot: EngineSlot, request: ResolvedRequest, output: ResolvedOutput, o: RunOptions): Promise<void> {
  const p = job.prediction;
  const { seed } = request;
  p.status = "processing";
  p.started_at = new Date().toISOString();
  p.metrics.seed = seed;
  try {
    await job.save();
    job.emit({ event: "start", data: job.snapshot() });
    job.log(`Using seed: ${seed}`);
    const result = await slot.generate(job, request, o);
    const files = await encodeOutputs(result.images, p.id, output.outputFormat, output.outputQuality);
    await o.outputs.put(files).catch((e: Error) => {
      throw new Error(`the outputs could not be stored: ${storageMessage(e)}`);
    });
    p.output = await publishOutputs(files, o.urlPolicy, o.uploadTo);
    job.emit({ event: "output", data: job.snapshot() });
    job.hook("output");
    await job.finish("succeeded");
  } catch (e) {
    const closing = o.closing();
    if (e instanceof CancelledError) await job.finish(closing ? "failed" : "canceled", closing ? SHUTDOWN_ERROR : undefined);
    else await job.finish("failed", closing ? SHUTDOWN_ERROR : storageMessage(e as Error));
  }
}
