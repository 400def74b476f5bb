// Per-step progress and cancellation, shared by the pipelines.

export interface ProgressEvent {
  stage: "text" | "prior" | "decoder" | "decode" | "load";
  step: number;
  total: number;
  /** Optional cheap preview of the current latents (RGB, small). */
  preview?: { width: number; height: number; data: Uint8Array };
}
export type Progress = (e: ProgressEvent) => void;

export class CancelledError extends Error {
  constructor() {
    super("cancelled");
    this.name = "CancelledError";
  }
}

export function checkCancelled(signal?: AbortSignal): void {
  if (signal?.aborted) throw new CancelledError();
}
