// What every scheduler here shares: ᾱ over the training timesteps, the current chain of timesteps, and the
// forward process on that ᾱ.
import type { HostTensor } from "../runtime/host-tensor.js";
import type { NoiseSource } from "../noise/noise-source.js";
import type { Scheduler, StepOptions, StepResult } from "./scheduler.js";
import { addNoiseWith } from "./sample-ops.js";

export abstract class CumprodScheduler implements Scheduler {
  abstract readonly name: string;
  abstract readonly wantsVariance: boolean;
  readonly initNoiseSigma = 1;
  /** Until setTimesteps: every training timestep, last to first (as the reference classes start). */
  protected steps: number[];

  constructor(readonly alphasCumprod: Float32Array) {
    this.steps = Array.from({ length: alphasCumprod.length }, (_, i) => alphasCumprod.length - 1 - i);
  }

  get numTrainTimesteps(): number {
    return this.alphasCumprod.length;
  }

  get timesteps(): readonly number[] {
    return this.steps;
  }

  abstract setTimesteps(numInferenceSteps: number): void;
  abstract step(modelOutput: HostTensor, t: number, sample: HostTensor, noise: NoiseSource, opts?: StepOptions): StepResult;

  addNoise(original: HostTensor, noise: Float32Array, timesteps: readonly number[]): Float32Array {
    return addNoiseWith(this.alphasCumprod, original, noise, timesteps);
  }
}
