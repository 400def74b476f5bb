// UnCLIPScheduler of diffusers 0.24: the prior's scheduler (cosine schedule, predicts x_0 directly).
import type { HostTensor } from "../runtime/host-tensor.js";
import type { NoiseSource } from "../noise/noise-source.js";
import { Fields, type ConfigClass, type RawConfig } from "./config.js";
import type { SchedulerDefinition } from "./scheduler.js";
import type { StepResult, TimestepChain } from "./chain.js";
import { CumprodScheduler } from "./base.js";
import { alphasFromBetas, betasForAlphaBar } from "./betas.js";
import { clamp, learnedRangeStd, posteriorMean, predictOriginal, splitModelOutput } from "./sample-ops.js";
import { f32, roundHalfEven } from "../f32/scalar.js";
import { expF32 } from "../f32/sleef.js";
import { cumprodF32 } from "../f32/torch-ops.js";

export const UNCLIP_VARIANCE_TYPES = ["fixed_small_log", "learned_range"] as const;
export type UnCLIPVarianceType = (typeof UNCLIP_VARIANCE_TYPES)[number];

export interface UnCLIPConfig {
  numTrainTimesteps: number;
  varianceType: UnCLIPVarianceType;
  clipSample: boolean;
  clipSampleRange: number;
  predictionType: "epsilon" | "sample";
  betaSchedule: "squaredcos_cap_v2";
}

/** UnCLIPScheduler.__init__'s defaults (diffusers 0.24), by config key. */
export const UNCLIP_DEFAULTS: Readonly<RawConfig> = {
  num_train_timesteps: 1000,
  variance_type: "fixed_small_log",
  clip_sample: true,
  clip_sample_range: 1.0,
  prediction_type: "epsilon",
  beta_schedule: "squaredcos_cap_v2",
};

export function parseUnCLIPConfig(raw: RawConfig): UnCLIPConfig {
  const f = new Fields(raw, UNCLIP_DEFAULTS, "UnCLIPScheduler config");
  return {
    numTrainTimesteps: f.int("num_train_timesteps", 2),
    varianceType: f.oneOf("variance_type", UNCLIP_VARIANCE_TYPES),
    clipSample: f.bool("clip_sample"),
    clipSampleRange: f.num("clip_sample_range"),
    predictionType: f.oneOf("prediction_type", ["epsilon", "sample"] as const),
    // The only schedule the reference class accepts.
    betaSchedule: f.oneOf("beta_schedule", ["squaredcos_cap_v2"] as const),
  };
}

export class UnCLIPScheduler extends CumprodScheduler<UnCLIPConfig> {
  readonly name = "unclip";
  readonly betas: Float32Array;
  readonly alphas: Float32Array;

  constructor(config: UnCLIPConfig) {
    const betas = betasForAlphaBar(config.numTrainTimesteps);
    const alphas = alphasFromBetas(betas);
    super(config, cumprodF32(alphas));
    this.betas = betas;
    this.alphas = alphas;
  }

  /**
   * N timesteps evenly from T-1 down to 0: round(i * (T-1)/(N-1)), half to even, reversed. Each step moves to
   * the next timestep of the chain, the last one to t - 1 (the prior pipeline passes prev_timestep=None there).
   */
  chain(numInferenceSteps: number): TimestepChain {
    const T = this.config.numTrainTimesteps;
    if (!Number.isInteger(numInferenceSteps) || numInferenceSteps < 2 || numInferenceSteps > T) {
      throw new RangeError(`UnCLIPScheduler: num_inference_steps must be an integer in [2, ${T}], got ${numInferenceSteps}`);
    }
    const ratio = (T - 1) / (numInferenceSteps - 1);
    const schedule = Array.from({ length: numInferenceSteps }, (_, i) => roundHalfEven(i * ratio)).reverse();
    return this.makeChain(schedule, () => (k, out, x, noise) => this.step(schedule[k], schedule[k + 1] ?? schedule[k] - 1, out, x, noise));
  }

  private step(t: number, prevT: number, modelOutput: HostTensor, sample: HostTensor, noise: NoiseSource): StepResult {
    const c = this.config;
    const learned = c.varianceType === "learned_range";
    const { prediction, variance: predictedVariance } = splitModelOutput("UnCLIPScheduler", modelOutput, sample, learned);

    const alphaProd = this.alphasCumprod[t];
    const alphaProdPrev = prevT >= 0 ? this.alphasCumprod[prevT] : 1;
    const betaProd = f32(1 - alphaProd), betaProdPrev = f32(1 - alphaProdPrev);
    // One training step: the schedule's own β_t; a stride: the β that spans it.
    const beta = prevT === t - 1 ? this.betas[t] : f32(1 - f32(alphaProd / alphaProdPrev));
    const alpha = prevT === t - 1 ? this.alphas[t] : f32(1 - beta);

    const x0 = predictOriginal(c.predictionType, prediction, sample.data, alphaProd);
    if (c.clipSample) clamp(x0, c.clipSampleRange);
    const prev = posteriorMean(x0, sample.data, alphaProd, alphaProdPrev, alpha, beta);

    if (t > 0) {
      const z = noise.randn(sample.shape, "scheduling_unclip.step");
      const variance = f32(f32(betaProdPrev / betaProd) * beta);
      if (predictedVariance) {
        const std = learnedRangeStd(predictedVariance, f32(Math.log(variance)), f32(Math.log(beta)));
        for (let i = 0; i < prev.length; i++) prev[i] += f32(std[i] * z[i]);
      } else {
        const std = expF32(f32(0.5 * f32(Math.log(Math.max(variance, f32(1e-20))))));
        for (let i = 0; i < prev.length; i++) prev[i] += f32(std * z[i]);
      }
    }
    return { prevSample: prev, predOriginalSample: x0 };
  }
}

export const UNCLIP = {
  reference: { className: "UnCLIPScheduler", parse: parseUnCLIPConfig } satisfies ConfigClass<UnCLIPConfig>,
  create: (config: UnCLIPConfig) => new UnCLIPScheduler(config),
} satisfies SchedulerDefinition<UnCLIPConfig>;
