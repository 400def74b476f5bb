// DPM-Solver++ 2M (Lu et al. 2022, "DPM-Solver++", multistep second order, data prediction) for an epsilon
// model, without Karras sigmas. This one is OUR addition for fast sampling (~20-30 steps), not a port of a
// diffusers class and not part of the reference parity: deterministic, no noise drawn.
import type { HostTensor } from "../runtime/host-tensor.js";
import { ConfigError } from "../weights/config.js";
import type { BetaConfig, SpacingConfig } from "./config.js";
import type { DecoderFolders, SchedulerDefinition } from "./scheduler.js";
import type { StepResult, TimestepChain } from "./chain.js";
import { CumprodScheduler } from "./base.js";
import { alphasCumprod, makeBetas } from "./betas.js";
import { splitModelOutput } from "./sample-ops.js";
import { DDIM } from "./ddim.js";

export interface DPMSolverPP2MConfig extends BetaConfig, SpacingConfig {}

/** α_t = √ᾱ_t, σ_t = √(1-ᾱ_t), λ_t = log(α_t / σ_t) (half the log-SNR). */
interface Level {
  alpha: number;
  sigma: number;
  lambda: number;
}

/** One walk's memory: the last step taken and its x_0 estimate, for the second-order correction. */
interface Memory {
  k?: number;
  x0?: Float64Array;
}

export class DPMSolverPP2MScheduler extends CumprodScheduler<DPMSolverPP2MConfig> {
  readonly name = "dpmpp_2m";

  constructor(config: DPMSolverPP2MConfig) {
    super(config, alphasCumprod(makeBetas(config)));
  }

  private level(t: number): Level {
    const a = this.alphasCumprod[t];
    const alpha = Math.sqrt(a), sigma = Math.sqrt(1 - a);
    return { alpha, sigma, lambda: Math.log(alpha) - Math.log(sigma) };
  }

  /**
   * Each step moves from schedule[k] to schedule[k + 1], or to the clean sample after the last one; a chain
   * may start mid-schedule (img2img), its first step then first order.
   */
  chain(numInferenceSteps: number): TimestepChain {
    const schedule = this.spaced(this.config, numInferenceSteps);
    return this.makeChain(schedule, () => {
      const memory: Memory = {};
      return (k, out, x) => this.step(schedule, k, out, x, memory);
    });
  }

  private step(schedule: readonly number[], k: number, modelOutput: HostTensor, sample: HostTensor, memory: Memory): StepResult {
    const eps = splitModelOutput("DPMSolverPP2MScheduler", modelOutput, sample, false).prediction;
    const x = sample.data;
    const cur = this.level(schedule[k]);
    const x0 = Float64Array.from(x, (v, i) => (v - cur.sigma * eps[i]) / cur.alpha);
    const previousX0 = memory.k === k - 1 ? memory.x0 : undefined;
    Object.assign(memory, { k, x0 });

    // Last step: the target is clean (α 1, σ 0, λ ∞), where the update collapses to the x_0 estimate.
    if (k === schedule.length - 1) return { prevSample: Float32Array.from(x0), predOriginalSample: Float32Array.from(x0) };

    const next = this.level(schedule[k + 1]);
    const h = next.lambda - cur.lambda;
    const decay = next.sigma / cur.sigma, gain = -next.alpha * Math.expm1(-h);
    let d: ArrayLike<number> = x0;
    if (previousX0) {
      // Second order (midpoint form): D = x0 + (x0 - x0_prev) / (2r), r = h_prev / h.
      const r = (cur.lambda - this.level(schedule[k - 1]).lambda) / h;
      d = x0.map((v, i) => v + (v - previousX0[i]) / (2 * r));
    }
    const prev = Float32Array.from(x, (v, i) => decay * v + gain * d[i]);
    return { prevSample: prev, predOriginalSample: Float32Array.from(x0) };
  }
}

export const DPMPP_2M = {
  /** The betas and timestep spacing of the decoder's DDIM config (`scheduler/`). */
  decoderConfig(from: DecoderFolders): DPMSolverPP2MConfig {
    const { rescaleBetasZeroSnr, numTrainTimesteps, betaStart, betaEnd, betaSchedule, trainedBetas, timestepSpacing, stepsOffset } = DDIM.decoderConfig(from);
    if (rescaleBetasZeroSnr) throw new ConfigError(`${from.repoDir}/scheduler: dpmpp_2m does not support rescale_betas_zero_snr`);
    return { numTrainTimesteps, betaStart, betaEnd, betaSchedule, trainedBetas, timestepSpacing, stepsOffset };
  },
  create: (config: DPMSolverPP2MConfig) => new DPMSolverPP2MScheduler(config),
} satisfies SchedulerDefinition<DPMSolverPP2MConfig>;
