// The caller's side: one inference process per engine, one job at a time, progress streamed back.
// A process that dies fails its job and is started afresh for the next one.
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { GenerateRequest, GenerateResult } from "../pipelines/kandinsky.js";
import { RequestError } from "../pipelines/kandinsky.js";
import { CancelledError, type ProgressEvent } from "../pipelines/progress.js";
import type { FromWorker, ToWorker, WorkerInit } from "./protocol.js";

export interface JobControl {
  onProgress?: (e: ProgressEvent) => void;
  onLoad?: (component: string, phase: "start" | "done", ms?: number) => void;
  /**
   * The job's warnings (e.g. a scheduler fallback), and the inference process's own (the requested provider is
   * unavailable and CPU is used) when the Engine has no EngineEvents.onWarning.
   */
  onWarning?: (message: string) => void;
  signal?: AbortSignal;
  /** Ask for a cheap latent preview with each decoder step. */
  preview?: boolean;
}

export class EngineCrashedError extends Error {}

export interface EngineEvents {
  /**
   * Warnings of the inference process rather than of a job: its provider check as it starts (the requested
   * provider cannot start, and cpu is used). Without this they go to the job running then, or else the next one.
   */
  onWarning?: (message: string) => void;
}

const WORKER = fileURLToPath(new URL("./worker.js", import.meta.url));

export class Engine {
  private child?: ChildProcess;
  private nextId = 1;
  private busy = false;
  /** The running job's warning listener. */
  private jobWarning?: (message: string) => void;
  /** Process warnings no one was there to hear (no listener, no job). */
  private unheard: string[] = [];

  constructor(private readonly init: WorkerInit, private readonly events: EngineEvents = {}) {}

  /** Starts the inference process now rather than with the first job (it checks its provider as it starts). */
  launch(): void {
    this.start();
  }

  private start(): ChildProcess {
    if (!this.child) {
      const child = fork(WORKER, [], {
        serialization: "advanced",
        stdio: ["ignore", "inherit", "inherit", "ipc"],
        // Large blocks from the allocator's own mmap, so a released component's memory goes back to the system
        // (glibc otherwise keeps ~1 GB of freed weights resident; see the runtime notes).
        env: { MALLOC_MMAP_THRESHOLD_: "131072", ...process.env },
      });
      child.on("exit", () => { if (this.child === child) this.child = undefined; });
      child.on("message", (m: FromWorker) => { if (m.type === "warning" && m.id === undefined) this.processWarning(m.message); });
      child.send({ type: "init", init: this.init } satisfies ToWorker);
      // An idle engine must not keep the caller's process alive (a job refs it while it runs).
      child.unref();
      child.channel?.unref();
      this.child = child;
    }
    return this.child;
  }

  private processWarning(message: string): void {
    if (this.events.onWarning) this.events.onWarning(message);
    else if (this.jobWarning) this.jobWarning(message);
    else this.unheard.push(message);
  }

  get running(): boolean {
    return this.busy;
  }

  /** The inference process's id, while there is one. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  async run(request: GenerateRequest, ctl: JobControl = {}): Promise<GenerateResult> {
    if (this.busy) throw new Error("the engine is already running a job");
    this.busy = true;
    const id = this.nextId++;
    const child = this.start();
    child.ref();
    child.channel?.ref();
    this.jobWarning = ctl.onWarning;
    for (const message of this.unheard.splice(0)) ctl.onWarning?.(message);
    const onAbort = () => child.connected && child.send({ type: "cancel", id } satisfies ToWorker);
    try {
      return await new Promise<GenerateResult>((resolve, reject) => {
        const onMessage = (m: FromWorker) => {
          if (m.id !== id) return;
          if (m.type === "progress") ctl.onProgress?.(m.event);
          else if (m.type === "load") ctl.onLoad?.(m.component, m.phase, m.ms);
          else if (m.type === "warning") ctl.onWarning?.(m.message);
          else {
            cleanup();
            if (m.type === "result") return resolve(m.result);
            const e = m.kind === "cancelled" ? new CancelledError() : m.kind === "request" ? new RequestError(m.message) : new Error(m.message);
            // The worker's stack says where it failed (for --debug).
            if (m.stack) e.stack = m.stack;
            reject(e);
          }
        };
        const onExit = (code: number | null, signal: string | null) => {
          cleanup();
          reject(new EngineCrashedError(`the inference process stopped (${signal ? `signal ${signal}` : `exit code ${code}`})`));
        };
        const cleanup = () => {
          child.off("message", onMessage);
          child.off("exit", onExit);
        };
        child.on("message", onMessage);
        child.on("exit", onExit);
        ctl.signal?.addEventListener("abort", onAbort);
        child.send({ type: "run", id, request, preview: ctl.preview ?? false } satisfies ToWorker);
        if (ctl.signal?.aborted) onAbort();
      });
    } finally {
      ctl.signal?.removeEventListener("abort", onAbort);
      this.jobWarning = undefined;
      child.unref();
      child.channel?.unref();
      this.busy = false;
    }
  }

  /** Stops the inference process (and with it every loaded model), at once, even inside a network call. */
  async close(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.ref(); // so that waiting for its exit keeps the caller alive
    child.kill("SIGKILL");
    await exited;
  }
}
