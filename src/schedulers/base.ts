// What every scheduler here shares: ᾱ over the training timesteps, chains of inference timesteps on it, and
// the forward process on that ᾱ.
import type { HostTensor } from "../runtime/host-tensor.js";
import type { NoiseSource } from "../noise/noise-source.js";
import type { SpacingConfig } from "./config.js";
import type { Scheduler } from "./scheduler.js";
import { TimestepChain, type ChainStep, type StepResult } from "./chain.js";
import { addNoiseWith, checkTimestep } from "./sample-ops.js";
import { spacedTimesteps } from "./spacing.js";

/** A step from timestep t to prevT (below 0: past the last training timestep, to the clean sample). */
export type StrideStep = (t: number, prevT: number, modelOutput: HostTensor, sample: HostTensor, noise: NoiseSource) => StepResult;

export abstract class CumprodScheduler<C> implements Scheduler {
  abstract readonly name: string;
  readonly initNoiseSigma = 1;

  constructor(readonly config: C, readonly alphasCumprod: Float32Array) {}

  get numTrainTimesteps(): number {
    return this.alphasCumprod.length;
  }

  abstract chain(numInferenceSteps: number): TimestepChain;

  /** A chain over `schedule`, each of its timesteps checked against the training range. */
  protected makeChain(schedule: number[], stepper: () => ChainStep): TimestepChain {
    for (const t of schedule) checkTimestep(t, this.numTrainTimesteps);
    return new TimestepChain(schedule, stepper);
  }

  /** The N inference timesteps as the config spaces them, descending. */
  protected spaced(c: SpacingConfig, numInferenceSteps: number): number[] {
    return spacedTimesteps(c.timestepSpacing, this.numTrainTimesteps, numInferenceSteps, c.stepsOffset);
  }

  /** The configured spacing's chain, each step from t to t - T // N (diffusers' previous_timestep). */
  protected strideChain(c: SpacingConfig, numInferenceSteps: number, step: StrideStep): TimestepChain {
    const schedule = this.spaced(c, numInferenceSteps);
    const stride = Math.floor(this.numTrainTimesteps / numInferenceSteps);
    return this.makeChain(schedule, () => (k, out, x, noise) => step(schedule[k], schedule[k] - stride, out, x, noise));
  }

  addNoise(original: HostTensor, noise: Float32Array, timesteps: readonly number[]): Float32Array {
    return addNoiseWith(this.alphasCumprod, original, noise, timesteps);
  }
}
