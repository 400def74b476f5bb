// Messages between the engine and its inference process (Node IPC with structured-clone serialization).
import type { GenerateRequest, GenerateResult } from "../pipelines/kandinsky.js";
import type { ProgressEvent } from "../pipelines/progress.js";
import type { EngineOptions, ModelDirs } from "../pipelines/components.js";

export interface WorkerInit {
  dirs: ModelDirs;
  /** `provider` as requested: the inference process checks that it starts, and falls back to cpu saying why. */
  options: Omit<EngineOptions, "onLoad" | "onWarning">;
}

export type ToWorker =
  | { type: "init"; init: WorkerInit }
  | { type: "run"; id: number; request: GenerateRequest; preview: boolean }
  | { type: "cancel"; id: number };

export type FromWorker =
  | { type: "progress"; id: number; event: ProgressEvent }
  | { type: "load"; id: number; component: string; phase: "start" | "done"; ms?: number }
  /** `id` absent: the process's own warning (its provider check as it starts), not a job's. */
  | { type: "warning"; id?: number; message: string }
  | { type: "result"; id: number; result: GenerateResult }
  | { type: "error"; id: number; message: string; kind: "request" | "cancelled" | "internal"; stack?: string };
