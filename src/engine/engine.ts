// The main-thread side: one inference worker per engine, one job at a time, progress streamed back.
// A worker that dies fails its job and is started afresh for the next one.
import { Worker } from "node:worker_threads";
import type { GenerateRequest, GenerateResult } from "../pipelines/kandinsky.js";
import { RequestError } from "../pipelines/kandinsky.js";
import { CancelledError, type ProgressEvent } from "../pipelines/progress.js";
import type { FromWorker, ToWorker, WorkerInit } from "./protocol.js";

export interface JobControl {
  onProgress?: (e: ProgressEvent) => void;
  onLoad?: (component: string, phase: "start" | "done", ms?: number) => void;
  /** E.g. the requested provider is unavailable and CPU is used. */
  onWarning?: (message: string) => void;
  signal?: AbortSignal;
  /** Ask for a cheap latent preview with each decoder step. */
  preview?: boolean;
}

export class EngineCrashedError extends Error {}

export class Engine {
  private worker?: Worker;
  private nextId = 1;
  private busy = false;

  constructor(private readonly init: WorkerInit) {}

  private start(): Worker {
    if (!this.worker) {
      this.worker = new Worker(new URL("./worker.js", import.meta.url), { workerData: this.init });
      this.worker.unref();
    }
    return this.worker;
  }

  get running(): boolean {
    return this.busy;
  }

  async run(request: GenerateRequest, ctl: JobControl = {}): Promise<GenerateResult> {
    if (this.busy) throw new Error("the engine is already running a job");
    this.busy = true;
    const id = this.nextId++;
    const cancel = new SharedArrayBuffer(4);
    const flag = new Int32Array(cancel);
    const onAbort = () => Atomics.store(flag, 0, 1);
    ctl.signal?.addEventListener("abort", onAbort);
    if (ctl.signal?.aborted) onAbort();
    const w = this.start();
    try {
      return await new Promise<GenerateResult>((resolve, reject) => {
        const onMessage = (m: FromWorker) => {
          if (m.id !== id) return;
          if (m.type === "progress") ctl.onProgress?.(m.event);
          else if (m.type === "load") ctl.onLoad?.(m.component, m.phase, m.ms);
          else if (m.type === "warning") ctl.onWarning?.(m.message);
          else {
            cleanup();
            if (m.type === "result") resolve(m.result);
            else {
              const e = m.kind === "cancelled" ? new CancelledError() : m.kind === "request" ? new RequestError(m.message) : new Error(m.message);
              // The worker's stack says where it failed (for --debug).
              if (m.stack) e.stack = m.stack;
              reject(e);
            }
          }
        };
        const onExit = (code: number) => {
          cleanup();
          this.worker = undefined;
          reject(new EngineCrashedError(`the inference worker stopped (exit code ${code})`));
        };
        const onError = (e: Error) => {
          cleanup();
          this.worker = undefined;
          reject(new EngineCrashedError(`the inference worker crashed: ${e.message}`));
        };
        const cleanup = () => {
          w.off("message", onMessage);
          w.off("exit", onExit);
          w.off("error", onError);
        };
        w.on("message", onMessage);
        w.on("exit", onExit);
        w.on("error", onError);
        w.ref();
        w.postMessage({ type: "run", id, request, cancel, preview: ctl.preview ?? false } satisfies ToWorker);
      });
    } finally {
      this.worker?.unref();
      ctl.signal?.removeEventListener("abort", onAbort);
      this.busy = false;
    }
  }

  /** Stops the worker (and with it every loaded model). */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}
