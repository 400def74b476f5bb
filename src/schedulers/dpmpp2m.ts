// DPM-Solver++ 2M (Lu et al. 2022, "DPM-Solver++", multistep second order, data prediction) for an epsilon
// model, without Karras sigmas. This one is OUR addition for fast sampling (~20-30 steps), not a port of a
// diffusers class and not part of the reference parity: deterministic, no noise drawn.
import type { HostTensor } from "../runtime/host-tensor.js";
import type { NoiseSource } from "../noise/noise-source.js";
import type { BetaConfig, TimestepSpacing } from "./config.js";
import type { StepResult } from "./scheduler.js";
import { CumprodScheduler } from "./base.js";
import { alphasFromBetas, makeBetas } from "./betas.js";
import { cumprodF32 } from "../f32/torch-ops.js";
import { checkTimestep, splitModelOutput } from "./sample-ops.js";
import { spacedTimesteps } from "./spacing.js";

export interface DPMSolverPP2MConfig extends BetaConfig {
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
}

/** α_t = √ᾱ_t, σ_t = √(1-ᾱ_t), λ_t = log(α_t / σ_t) (half the log-SNR). */
interface Level {
  alpha: number;
  sigma: number;
  lambda: number;
}

export class DPMSolverPP2MScheduler extends CumprodScheduler {
  readonly name = "dpmpp_2m";
  readonly wantsVariance = false;
  readonly config: DPMSolverPP2MConfig;
  /** The previous step's x_0 estimate, for the second-order correction. */
  private previous: { index: number; x0: Float64Array } | undefined;

  constructor(config: DPMSolverPP2MConfig) {
    super(cumprodF32(alphasFromBetas(makeBetas(config))));
    this.config = config;
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    this.steps = spacedTimesteps(c.timestepSpacing, c.numTrainTimesteps, numInferenceSteps, c.stepsOffset);
    this.previous = undefined;
  }

  private level(t: number): Level {
    const a = this.alphasCumprod[t];
    const alpha = Math.sqrt(a), sigma = Math.sqrt(1 - a);
    return { alpha, sigma, lambda: Math.log(alpha) - Math.log(sigma) };
  }

  /**
   * Moves from timesteps[i] = t to timesteps[i + 1], or to the clean sample after the last one. `t` must be
   * one of `timesteps`; a chain may start mid-list (img2img).
   */
  step(modelOutput: HostTensor, t: number, sample: HostTensor, _noise: NoiseSource): StepResult {
    checkTimestep(t, this.config.numTrainTimesteps);
    const i = this.steps.indexOf(t);
    if (i < 0) throw new RangeError(`DPMSolverPP2MScheduler.step: timestep ${t} is not in the chain (call setTimesteps first)`);
    const eps = splitModelOutput("DPMSolverPP2MScheduler.step", modelOutput, sample, false).prediction;
    const x = sample.data;
    const cur = this.level(t);
    const x0 = Float64Array.from(x, (v, k) => (v - cur.sigma * eps[k]) / cur.alpha);
    const previous = this.previous;
    this.previous = { index: i, x0 };

    // Last step: the target is clean (α 1, σ 0, λ ∞), where the update collapses to the x_0 estimate.
    if (i === this.steps.length - 1) return { prevSample: Float32Array.from(x0), predOriginalSample: Float32Array.from(x0) };

    const next = this.level(this.steps[i + 1]);
    const h = next.lambda - cur.lambda;
    const decay = next.sigma / cur.sigma, gain = -next.alpha * Math.expm1(-h);
    let d: ArrayLike<number> = x0;
    if (previous && previous.index === i - 1) {
      // Second order (midpoint form): D = x0 + (x0 - x0_prev) / (2r), r = h_prev / h.
      const r = (cur.lambda - this.level(this.steps[i - 1]).lambda) / h;
      d = x0.map((v, k) => v + (v - previous.x0[k]) / (2 * r));
    }
    const prev = Float32Array.from(x, (v, k) => decay * v + gain * d[k]);
    return { prevSample: prev, predOriginalSample: Float32Array.from(x0) };
  }

}
