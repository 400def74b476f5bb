// DDIMScheduler of diffusers 0.24 (Song et al. 2020), η = 0 as the Kandinsky pipelines run it: the decoder's
// default scheduler.
import type { HostTensor } from "../runtime/host-tensor.js";
import { DIFFUSION_DEFAULTS, diffusionFields, Fields, type DiffusionConfig, type RawConfig } from "./config.js";
import { decoderReference } from "./scheduler.js";
import type { StepResult, TimestepChain } from "./chain.js";
import { CumprodScheduler } from "./base.js";
import { alphasCumprod, makeBetas, rescaleZeroTerminalSnr } from "./betas.js";
import { boundOriginal, noiseLevels, predictOriginal, splitModelOutput } from "./sample-ops.js";
import { f32 } from "../f32/scalar.js";

export interface DDIMConfig extends DiffusionConfig {
  setAlphaToOne: boolean;
  rescaleBetasZeroSnr: boolean;
}

/** DDIMScheduler.__init__'s defaults (diffusers 0.24), by config key. */
export const DDIM_DEFAULTS: Readonly<RawConfig> = {
  ...DIFFUSION_DEFAULTS,
  set_alpha_to_one: true,
  rescale_betas_zero_snr: false,
};

export function parseDDIMConfig(raw: RawConfig): DDIMConfig {
  const f = new Fields(raw, DDIM_DEFAULTS, "DDIMScheduler config");
  return {
    ...diffusionFields(f),
    setAlphaToOne: f.bool("set_alpha_to_one"),
    rescaleBetasZeroSnr: f.bool("rescale_betas_zero_snr"),
  };
}

export class DDIMScheduler extends CumprodScheduler<DDIMConfig> {
  readonly name = "ddim";
  /** ᾱ used past the last step: 1, or ᾱ_0 when set_alpha_to_one is false. */
  readonly finalAlphaCumprod: number;

  constructor(config: DDIMConfig) {
    const betas = makeBetas(config);
    super(config, alphasCumprod(config.rescaleBetasZeroSnr ? rescaleZeroTerminalSnr(betas) : betas));
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

/** Configured by `scheduler/` of a decoder repo. */
export const DDIM = decoderReference({ className: "DDIMScheduler", parse: parseDDIMConfig }, "scheduler", (c) => new DDIMScheduler(c));
