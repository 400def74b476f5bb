// DDPMScheduler of diffusers 0.24 (Ho et al. 2020), including the learned-range variance Kandinsky's UNet predicts.
import type { HostTensor } from "../runtime/host-tensor.js";
import type { NoiseSource } from "../noise/noise-source.js";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  DIFFUSION_DEFAULTS, diffusionFields, Fields, readConfigAs, readRawConfig, type BetaConfig, type DiffusionConfig, type RawConfig,
} from "./config.js";
import { decoderReference, type DecoderFolders, type SchedulerDefinition } from "./scheduler.js";
import type { StepResult, TimestepChain } from "./chain.js";
import { CumprodScheduler } from "./base.js";
import { alphasCumprod, makeBetas } from "./betas.js";
import { boundOriginal, learnedRangeStd, posteriorMean, predictOriginal, splitModelOutput } from "./sample-ops.js";
import { f32 } from "../f32/scalar.js";
import { expF32 } from "../f32/sleef.js";

/** DDPM's variance types; "fixed_large_log" is left out: the reference takes the square root of a log there (NaN). */
export const DDPM_VARIANCE_TYPES = ["fixed_small", "fixed_small_log", "fixed_large", "learned", "learned_range"] as const;
export type DDPMVarianceType = (typeof DDPM_VARIANCE_TYPES)[number];

export interface DDPMConfig extends DiffusionConfig {
  varianceType: DDPMVarianceType;
}

/** DDPMScheduler.__init__'s defaults (diffusers 0.24), by config key. */
export const DDPM_DEFAULTS: Readonly<RawConfig> = {
  ...DIFFUSION_DEFAULTS,
  variance_type: "fixed_small",
};

/** Also DDPMScheduler.from_config of another scheduler's config: the keys DDPM shares are read, the rest default. */
export function parseDDPMConfig(raw: RawConfig): DDPMConfig {
  const f = new Fields(raw, DDPM_DEFAULTS, "DDPMScheduler config");
  return {
    ...diffusionFields(f),
    varianceType: f.oneOf("variance_type", DDPM_VARIANCE_TYPES),
  };
}

export class DDPMScheduler extends CumprodScheduler<DDPMConfig> {
  readonly name = "ddpm";

  constructor(config: DDPMConfig) {
    super(config, alphasCumprod(makeBetas(config)));
  }

  /** Whether the model output's second half (a learned variance) is read. */
  get learnedVariance(): boolean {
    return this.config.varianceType === "learned" || this.config.varianceType === "learned_range";
  }

  chain(numInferenceSteps: number): TimestepChain {
    return this.strideChain(this.config, numInferenceSteps, (t, prevT, out, x, noise) => this.step(t, prevT, out, x, noise));
  }

  private step(t: number, prevT: number, modelOutput: HostTensor, sample: HostTensor, noise: NoiseSource): StepResult {
    const c = this.config;
    const { prediction, variance: predictedVariance } = splitModelOutput("DDPMScheduler", modelOutput, sample, this.learnedVariance);

    const alphaProd = this.alphasCumprod[t];
    const alphaProdPrev = prevT >= 0 ? this.alphasCumprod[prevT] : 1;
    const betaProd = f32(1 - alphaProd), betaProdPrev = f32(1 - alphaProdPrev);
    const currentAlpha = f32(alphaProd / alphaProdPrev), currentBeta = f32(1 - currentAlpha);

    const x0 = boundOriginal(predictOriginal(c.predictionType, prediction, sample.data, alphaProd), sample.shape, c);
    const prev = posteriorMean(x0, sample.data, alphaProd, alphaProdPrev, currentAlpha, currentBeta);

    if (t > 0) {
      const z = noise.randn(sample.shape, "scheduling_ddpm.step");
      // Posterior variance β̃_t, floored as the reference does before any log.
      const variance = Math.max(f32(f32(betaProdPrev / betaProd) * currentBeta), f32(1e-20));
      const std = this.stdDev(variance, currentBeta, predictedVariance);
      for (let i = 0; i < prev.length; i++) prev[i] += f32(std(i) * z[i]);
    }
    return { prevSample: prev, predOriginalSample: x0 };
  }

  /** The noise scale per element for the configured variance type. */
  private stdDev(variance: number, currentBeta: number, predicted: Float32Array | undefined): (i: number) => number {
    const sqrt = (v: number) => f32(Math.sqrt(v));
    switch (this.config.varianceType) {
      case "fixed_small": {
        const s = sqrt(variance);
        return () => s;
      }
      case "fixed_small_log": {
        const s = expF32(f32(0.5 * f32(Math.log(variance))));
        return () => s;
      }
      case "fixed_large": {
        const s = sqrt(currentBeta);
        return () => s;
      }
      case "learned": {
        const p = predicted!;
        return (i) => sqrt(p[i]);
      }
      case "learned_range": {
        const std = learnedRangeStd(predicted!, f32(Math.log(variance)), f32(Math.log(currentBeta)));
        return (i) => std[i];
      }
    }
  }
}

/** Configured by `ddpm_scheduler/` of a decoder repo. */
const DDPM_CLASS = { className: "DDPMScheduler", parse: parseDDPMConfig };
const own = decoderReference(DDPM_CLASS, "ddpm_scheduler", (c) => new DDPMScheduler(c));

const sameBetas = (a: BetaConfig, b: BetaConfig) =>
  a.numTrainTimesteps === b.numTrainTimesteps && a.betaStart === b.betaStart && a.betaEnd === b.betaEnd &&
  a.betaSchedule === b.betaSchedule && JSON.stringify(a.trainedBetas) === JSON.stringify(b.trainedBetas);

/**
 * DDPM for a decoder repo: its `ddpm_scheduler/`. Without one (the inpainting repo has none): the text-to-image
 * decoder's when that was trained on the same betas, else what diffusers' `DDPMScheduler.from_config(pipe.scheduler
 * .config)` builds from the repo's own `scheduler/` (its betas, clipping and timestep spacing; DDPM's defaults for the
 * rest). Either fallback is noted.
 */
function ddpmDecoderConfig(from: DecoderFolders): DDPMConfig {
  const { repoDir, textToImageDir } = from;
  if (existsSync(join(repoDir, "ddpm_scheduler", "scheduler_config.json"))) return own.decoderConfig(from);
  const base = join(repoDir, "scheduler");
  const fromBase = parseDDPMConfig(readRawConfig(base).raw);
  const lacking = `${repoDir} has no ddpm_scheduler/`;
  let why = "";
  const lender = textToImageDir && resolve(textToImageDir) !== resolve(repoDir) ? join(textToImageDir, "ddpm_scheduler") : undefined;
  if (lender && existsSync(join(lender, "scheduler_config.json"))) {
    const config = readConfigAs(lender, DDPM_CLASS);
    if (sameBetas(config, fromBase)) {
      from.onNote?.(`${lacking}: ddpm uses the text-to-image decoder's ${lender} (same training betas)`);
      return config;
    }
    why = ` (the text-to-image decoder's ${lender} has other betas)`;
  }
  from.onNote?.(`${lacking}: ddpm is DDPMScheduler.from_config of ${base}, its betas with variance_type ${fromBase.varianceType}${why}`);
  return fromBase;
}

export const DDPM = { ...own, decoderConfig: ddpmDecoderConfig } satisfies SchedulerDefinition<DDPMConfig>;
