// The interface every denoising scheduler implements, so pipelines can drive any of them the same way.
import type { HostTensor } from "../runtime/host-tensor.js";
import type { NoiseSource } from "../noise/noise-source.js";

export interface StepOptions {
  /**
   * UnCLIP only: the timestep this step moves to (the next entry of `timesteps`, none on the last step).
   * Left out, UnCLIP uses t - 1, as the reference does.
   */
  prevTimestep?: number;
  /** DDIM only: η, the weight of the fresh noise (default 0: deterministic, no draw). */
  eta?: number;
}

export interface StepResult {
  /** x_{t-1}, the next sample; shape of `sample`. */
  prevSample: Float32Array;
  /** The model's estimate of x_0 at this step; shape of `sample`. */
  predOriginalSample: Float32Array;
}

export interface Scheduler {
  /** Short name: "ddim", "ddpm", "unclip", "dpmpp_2m". */
  readonly name: string;
  readonly numTrainTimesteps: number;
  /** Timesteps of the chain, first to last, as set by `setTimesteps`. */
  readonly timesteps: readonly number[];
  /** Standard deviation of the initial noise (the pipelines multiply their start latents by it). */
  readonly initNoiseSigma: number;
  /**
   * Whether `step` wants the model output's learned-variance half: model outputs of 2C channels
   * (eps, variance) are passed whole when true, else only the first C channels (eps).
   */
  readonly wantsVariance: boolean;
  setTimesteps(numInferenceSteps: number): void;
  /**
   * One reverse-diffusion step from timestep `t`. Stochastic schedulers draw their noise from `noise`
   * exactly when the reference draws it.
   */
  step(modelOutput: HostTensor, t: number, sample: HostTensor, noise: NoiseSource, opts?: StepOptions): StepResult;
  /** Forward-diffuses clean samples to `timesteps` (one per batch item, or one for all). */
  addNoise(original: HostTensor, noise: Float32Array, timesteps: readonly number[]): Float32Array;
}
