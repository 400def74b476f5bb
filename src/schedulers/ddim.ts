// DDIMScheduler of diffusers 0.24 (Song et al. 2020): the decoder's default scheduler.
import type { HostTensor } from "../runtime/host-tensor.js";
import type { NoiseSource } from "../noise/noise-source.js";
import type { DDIMConfig } from "./config.js";
import type { StepOptions, StepResult } from "./scheduler.js";
import { CumprodScheduler } from "./base.js";
import { alphasFromBetas, makeBetas, rescaleZeroTerminalSnr } from "./betas.js";
import { boundOriginal, checkTimestep, noiseLevels, predictOriginal, splitModelOutput } from "./sample-ops.js";
import { spacedTimesteps } from "./spacing.js";
import { f32 } from "../f32/scalar.js";
import { cumprodF32 } from "../f32/torch-ops.js";

export class DDIMScheduler extends CumprodScheduler {
  readonly name = "ddim";
  readonly wantsVariance = false;
  readonly config: DDIMConfig;
  /** ᾱ used past the last step: 1, or ᾱ_0 when set_alpha_to_one is false. */
  readonly finalAlphaCumprod: number;
  private numInferenceSteps: number | undefined;

  constructor(config: DDIMConfig) {
    const betas = makeBetas(config);
    super(cumprodF32(alphasFromBetas(config.rescaleBetasZeroSnr ? rescaleZeroTerminalSnr(betas) : betas)));
    this.config = config;
    this.finalAlphaCumprod = config.setAlphaToOne ? 1 : this.alphasCumprod[0];
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    this.steps = spacedTimesteps(c.timestepSpacing, c.numTrainTimesteps, numInferenceSteps, c.stepsOffset);
    this.numInferenceSteps = numInferenceSteps;
  }

  step(modelOutput: HostTensor, t: number, sample: HostTensor, noise: NoiseSource, opts: StepOptions = {}): StepResult {
    if (this.numInferenceSteps === undefined) throw new Error("DDIMScheduler.step: call setTimesteps first");
    const c = this.config;
    checkTimestep(t, c.numTrainTimesteps);
    const eta = opts.eta ?? 0;
    const prevT = t - Math.floor(c.numTrainTimesteps / this.numInferenceSteps);
    const alphaProd = this.alphasCumprod[t];
    const alphaProdPrev = prevT >= 0 ? this.alphasCumprod[prevT] : this.finalAlphaCumprod;
    const { sqrtAlpha, sqrtBeta } = noiseLevels(alphaProd);
    const m = splitModelOutput("DDIMScheduler.step", modelOutput, sample, false).prediction, x = sample.data;

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

    // σ_t(η) of formula (16); η = 0 gives the deterministic DDIM update.
    const betaProdPrev = f32(1 - alphaProdPrev);
    const variance = f32(f32(betaProdPrev / f32(1 - alphaProd)) * f32(1 - f32(alphaProd / alphaProdPrev)));
    const std = f32(f32(eta) * f32(Math.sqrt(variance)));
    const dirCoef = f32(Math.sqrt(f32(betaProdPrev - f32(std * std))));
    const x0Coef = f32(Math.sqrt(alphaProdPrev));
    const prev = x0.map((v, i) => f32(x0Coef * v) + f32(dirCoef * eps[i]));
    if (eta > 0) {
      const z = noise.randn(sample.shape, "scheduling_ddim.step");
      for (let i = 0; i < prev.length; i++) prev[i] += f32(std * z[i]);
    }
    return { prevSample: prev, predOriginalSample: x0 };
  }

}
