// DDIMScheduler of diffusers 0.24 (Song et al. 2020), η = 0 as the Kandinsky pipelines run it: the decoder's
// default scheduler.
import { join } from "node:path";
import type { HostTensor } from "../runtime/host-tensor.js";
import {
  betaFields, clipFields, Fields, PREDICTION_TYPES, readConfigAs, spacingFields,
  type BetaConfig, type ConfigClass, type PredictionType, type RawConfig, type SampleClipConfig, type SpacingConfig,
} from "./config.js";
import type { SchedulerDefinition, StepResult } from "./scheduler.js";
import type { TimestepChain } from "./chain.js";
import { CumprodScheduler } from "./base.js";
import { alphasCumprod, makeBetas, rescaleZeroTerminalSnr } from "./betas.js";
import { boundOriginal, noiseLevels, predictOriginal, splitModelOutput } from "./sample-ops.js";
import { f32 } from "../f32/scalar.js";

export interface DDIMConfig extends BetaConfig, SampleClipConfig, SpacingConfig {
  setAlphaToOne: boolean;
  predictionType: PredictionType;
  rescaleBetasZeroSnr: boolean;
}

export function parseDDIMConfig(raw: RawConfig): DDIMConfig {
  const f = new Fields(raw, "DDIMScheduler config");
  return {
    ...betaFields(f, "linear"),
    ...clipFields(f),
    ...spacingFields(f),
    setAlphaToOne: f.bool("set_alpha_to_one", true),
    predictionType: f.oneOf("prediction_type", PREDICTION_TYPES, "epsilon"),
    rescaleBetasZeroSnr: f.bool("rescale_betas_zero_snr", false),
  };
}

export class DDIMScheduler extends CumprodScheduler {
  readonly name = "ddim";
  readonly config: DDIMConfig;
  /** ᾱ used past the last step: 1, or ᾱ_0 when set_alpha_to_one is false. */
  readonly finalAlphaCumprod: number;

  constructor(config: DDIMConfig) {
    const betas = makeBetas(config);
    super(alphasCumprod(config.rescaleBetasZeroSnr ? rescaleZeroTerminalSnr(betas) : betas));
    this.config = config;
    this.finalAlphaCumprod = config.setAlphaToOne ? 1 : this.alphasCumprod[0];
  }

  chain(numInferenceSteps: number): TimestepChain {
    return this.strideChain(this.config, numInferenceSteps, (t, prevT, out, x) => this.step(t, prevT, out, x));
  }

  private step(t: number, prevT: number, modelOutput: HostTensor, sample: HostTensor): StepResult {
    const c = this.config;
    const alphaProd = this.alphasCumprod[t];
    const alphaProdPrev = prevT >= 0 ? this.alphasCumprod[prevT] : this.finalAlphaCumprod;
    const { sqrtAlpha, sqrtBeta } = noiseLevels(alphaProd);
    const m = splitModelOutput("DDIMScheduler", modelOutput, sample, false).prediction, x = sample.data;

    const x0 = boundOriginal(predictOriginal(c.predictionType, m, x, alphaProd), sample.shape, c);
    // The noise direction the update follows, from the unbounded prediction (use_clipped_model_output off).
    let eps: Float32Array;
    switch (c.predictionType) {
      case "epsilon":
        eps = m;
        break;
      case "sample":
        eps = x.map((s, i) => f32(s - f32(sqrtAlpha * m[i])) / sqrtBeta);
        break;
      case "v_prediction":
        eps = x.map((s, i) => f32(sqrtAlpha * m[i]) + f32(sqrtBeta * s));
        break;
    }

    // Formula (12) with σ_t = 0 (η = 0): deterministic, no noise drawn.
    const dirCoef = f32(Math.sqrt(f32(1 - alphaProdPrev)));
    const x0Coef = f32(Math.sqrt(alphaProdPrev));
    const prev = x0.map((v, i) => f32(x0Coef * v) + f32(dirCoef * eps[i]));
    return { prevSample: prev, predOriginalSample: x0 };
  }
}

const reference: ConfigClass<DDIMConfig> = { className: "DDIMScheduler", parse: parseDDIMConfig };

export const DDIM = {
  reference,
  /** `scheduler/` of a decoder repo. */
  decoderConfig: (repoDir: string) => readConfigAs(join(repoDir, "scheduler"), reference),
  create: (config: DDIMConfig) => new DDIMScheduler(config),
} satisfies SchedulerDefinition<DDIMConfig>;
