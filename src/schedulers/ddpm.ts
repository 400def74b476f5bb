// DDPMScheduler of diffusers 0.24 (Ho et al. 2020), including the learned-range variance Kandinsky's UNet predicts.
import type { HostTensor } from "../runtime/host-tensor.js";
import type { NoiseSource } from "../noise/noise-source.js";
import type { DDPMConfig } from "./config.js";
import type { StepResult } from "./scheduler.js";
import { CumprodScheduler } from "./base.js";
import { alphasFromBetas, makeBetas } from "./betas.js";
import { cumprodF32 } from "../f32/torch-ops.js";
import { boundOriginal, checkTimestep, learnedRangeStd, predictOriginal, splitModelOutput } from "./sample-ops.js";
import { spacedTimesteps } from "./spacing.js";
import { f32 } from "../f32/scalar.js";
import { expF32 } from "../f32/sleef.js";

export class DDPMScheduler extends CumprodScheduler {
  readonly name = "ddpm";
  readonly config: DDPMConfig;
  private numInferenceSteps: number | undefined;

  constructor(config: DDPMConfig) {
    super(cumprodF32(alphasFromBetas(makeBetas(config))));
    this.config = config;
  }

  get wantsVariance(): boolean {
    return this.config.varianceType === "learned" || this.config.varianceType === "learned_range";
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    this.steps = spacedTimesteps(c.timestepSpacing, c.numTrainTimesteps, numInferenceSteps, c.stepsOffset);
    this.numInferenceSteps = numInferenceSteps;
  }

  step(modelOutput: HostTensor, t: number, sample: HostTensor, noise: NoiseSource): StepResult {
    const c = this.config;
    checkTimestep(t, c.numTrainTimesteps);
    const { prediction, variance: predictedVariance } = splitModelOutput("DDPMScheduler.step", modelOutput, sample, this.wantsVariance);

    // Without set_timesteps the chain is the full training one (prev = t - 1).
    const prevT = t - Math.floor(c.numTrainTimesteps / (this.numInferenceSteps ?? c.numTrainTimesteps));
    const alphaProd = this.alphasCumprod[t];
    const alphaProdPrev = prevT >= 0 ? this.alphasCumprod[prevT] : 1;
    const betaProd = f32(1 - alphaProd), betaProdPrev = f32(1 - alphaProdPrev);
    const currentAlpha = f32(alphaProd / alphaProdPrev), currentBeta = f32(1 - currentAlpha);

    const x0 = boundOriginal(predictOriginal(c.predictionType, prediction, sample.data, alphaProd), sample.shape, c);
    // Formula (7) of the DDPM paper: the posterior mean's coefficients for x_0 and x_t.
    const x0Coef = f32(f32(f32(Math.sqrt(alphaProdPrev)) * currentBeta) / betaProd);
    const sampleCoef = f32(f32(f32(Math.sqrt(currentAlpha)) * betaProdPrev) / betaProd);
    const prev = x0.map((v, i) => f32(x0Coef * v) + f32(sampleCoef * sample.data[i]));

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
