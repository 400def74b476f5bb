// UnCLIPScheduler of diffusers 0.24: the prior's scheduler (cosine schedule, predicts x_0 directly).
import type { HostTensor } from "../runtime/host-tensor.js";
import type { NoiseSource } from "../noise/noise-source.js";
import type { UnCLIPConfig } from "./config.js";
import type { StepOptions, StepResult } from "./scheduler.js";
import { CumprodScheduler } from "./base.js";
import { alphasFromBetas, betasForAlphaBar } from "./betas.js";
import { checkTimestep, clamp, learnedRangeStd, predictOriginal, splitModelOutput } from "./sample-ops.js";
import { f32, roundHalfEven } from "../f32/scalar.js";
import { expF32 } from "../f32/sleef.js";
import { cumprodF32 } from "../f32/torch-ops.js";

export class UnCLIPScheduler extends CumprodScheduler {
  readonly name = "unclip";
  readonly config: UnCLIPConfig;
  readonly betas: Float32Array;
  readonly alphas: Float32Array;

  constructor(config: UnCLIPConfig) {
    const betas = betasForAlphaBar(config.numTrainTimesteps);
    const alphas = alphasFromBetas(betas);
    super(cumprodF32(alphas));
    this.config = config;
    this.betas = betas;
    this.alphas = alphas;
  }

  get wantsVariance(): boolean {
    return this.config.varianceType === "learned_range";
  }

  /** N timesteps evenly from T-1 down to 0: round(i * (T-1)/(N-1)), half to even, reversed. */
  setTimesteps(numInferenceSteps: number): void {
    const T = this.config.numTrainTimesteps;
    if (!Number.isInteger(numInferenceSteps) || numInferenceSteps < 2 || numInferenceSteps > T) {
      throw new RangeError(`UnCLIPScheduler: num_inference_steps must be an integer in [2, ${T}], got ${numInferenceSteps}`);
    }
    const ratio = (T - 1) / (numInferenceSteps - 1);
    this.steps = Array.from({ length: numInferenceSteps }, (_, i) => roundHalfEven(i * ratio)).reverse();
  }

  /**
   * Steps from `t` to `opts.prevTimestep` (the next timestep of the chain; t - 1 when left out, which is what
   * the prior pipeline passes on its last step).
   */
  step(modelOutput: HostTensor, t: number, sample: HostTensor, noise: NoiseSource, opts: StepOptions = {}): StepResult {
    const c = this.config;
    checkTimestep(t, c.numTrainTimesteps);
    const prevT = opts.prevTimestep ?? t - 1;
    if (!Number.isInteger(prevT) || prevT >= t) throw new RangeError(`UnCLIPScheduler.step: prevTimestep ${prevT} must be an integer below t=${t}`);
    const { prediction, variance: predictedVariance } = splitModelOutput("UnCLIPScheduler.step", modelOutput, sample, this.wantsVariance);

    const alphaProd = this.alphasCumprod[t];
    const alphaProdPrev = prevT >= 0 ? this.alphasCumprod[prevT] : 1;
    const betaProd = f32(1 - alphaProd), betaProdPrev = f32(1 - alphaProdPrev);
    // One training step: the schedule's own β_t; a stride: the β that spans it.
    const beta = prevT === t - 1 ? this.betas[t] : f32(1 - f32(alphaProd / alphaProdPrev));
    const alpha = prevT === t - 1 ? this.alphas[t] : f32(1 - beta);

    const x0 = predictOriginal(c.predictionType, prediction, sample.data, alphaProd);
    if (c.clipSample) clamp(x0, c.clipSampleRange);
    const x0Coef = f32(f32(f32(Math.sqrt(alphaProdPrev)) * beta) / betaProd);
    const sampleCoef = f32(f32(f32(Math.sqrt(alpha)) * betaProdPrev) / betaProd);
    const prev = x0.map((v, i) => f32(x0Coef * v) + f32(sampleCoef * sample.data[i]));

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
