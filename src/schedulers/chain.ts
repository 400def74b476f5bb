// A scheduler's inference timesteps and the step that walks them by index: everything a step needs from the
// chain (the timestep it moves to, a multistep solver's memory) stays inside it.
import type { HostTensor } from "../runtime/host-tensor.js";
import type { NoiseSource } from "../noise/noise-source.js";

export interface StepResult {
  /** x_{t-1}, the next sample; shape of `sample`. */
  prevSample: Float32Array;
  /** The model's estimate of x_0 at this step; shape of `sample`. */
  predOriginalSample: Float32Array;
}

/**
 * One reverse-diffusion step from `schedule[k]`. Stochastic schedulers draw their noise from `noise` exactly
 * when the reference draws it.
 */
export type ChainStep = (k: number, modelOutput: HostTensor, sample: HostTensor, noise: NoiseSource) => StepResult;

export class TimestepChain {
  /** The timesteps this chain walks, first to last. */
  readonly timesteps: readonly number[];
  private readonly stepAt: ChainStep;

  /**
   * `schedule`: the scheduler's N inference timesteps; `stepper` makes the step function of one walk (called
   * anew for every chain, so a solver's memory starts empty); the chain walks `schedule` from `start` on.
   */
  constructor(private readonly schedule: readonly number[], private readonly stepper: () => ChainStep, private readonly start = 0) {
    this.timesteps = schedule.slice(start);
    this.stepAt = stepper();
  }

  get length(): number {
    return this.timesteps.length;
  }

  /**
   * Step `i` of the chain, from timesteps[i] to the next one (or to the clean sample after the last). The
   * model output is the network's whole output: the scheduler reads the part it needs (eps, and a learned
   * variance where it uses one).
   */
  step(i: number, modelOutput: HostTensor, sample: HostTensor, noise: NoiseSource): StepResult {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) throw new RangeError(`step ${i} is not in a chain of ${this.length} timesteps`);
    return this.stepAt(this.start + i, modelOutput, sample, noise);
  }

  /**
   * img2img: a fresh chain over the last int(N·strength) of the scheduler's N timesteps, as diffusers'
   * get_timesteps (strength 1 keeps them all).
   */
  from(strength: number): TimestepChain {
    if (!(strength > 0 && strength <= 1)) throw new RangeError(`strength must be in (0, 1], got ${strength}`);
    const n = this.schedule.length;
    const initSteps = Math.min(Math.trunc(n * strength), n);
    return new TimestepChain(this.schedule, this.stepper, Math.max(n - initSteps, 0));
  }
}
