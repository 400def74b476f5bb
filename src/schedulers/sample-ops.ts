// Element-wise pieces the schedulers share, in float32 operation by operation as torch evaluates them.
import { splitChannels, type HostTensor } from "../runtime/host-tensor.js";
import type { PredictionType, SampleClipConfig } from "./config.js";
import { f32 } from "../f32/scalar.js";
import { expF32 } from "../f32/sleef.js";
import { quantileF32 } from "../f32/torch-ops.js";

/** The per-timestep scalars √ᾱ_t and √(1-ᾱ_t), as float32 0-d tensors. */
export function noiseLevels(alphaProd: number): { sqrtAlpha: number; sqrtBeta: number } {
  return { sqrtAlpha: f32(Math.sqrt(alphaProd)), sqrtBeta: f32(Math.sqrt(f32(1 - alphaProd))) };
}

/** x_0 from the model output for `type`, given ᾱ_t. */
export function predictOriginal(type: PredictionType, modelOutput: Float32Array, sample: Float32Array, alphaProd: number): Float32Array {
  const { sqrtAlpha, sqrtBeta } = noiseLevels(alphaProd);
  switch (type) {
    case "epsilon":
      return sample.map((s, i) => f32(s - f32(sqrtBeta * modelOutput[i])) / sqrtAlpha);
    case "sample":
      return modelOutput.slice();
    case "v_prediction":
      return sample.map((s, i) => f32(sqrtAlpha * s) - f32(sqrtBeta * modelOutput[i]));
  }
}

/**
 * Formula (7) of the DDPM paper: the posterior mean of x_{t-1} given x_0 and x_t, for a step from ᾱ_t to
 * ᾱ_prev whose own α and β = 1 - α are given.
 */
export function posteriorMean(x0: Float32Array, sample: Float32Array, alphaProd: number, alphaProdPrev: number, alpha: number, beta: number): Float32Array {
  const betaProd = f32(1 - alphaProd), betaProdPrev = f32(1 - alphaProdPrev);
  const x0Coef = f32(f32(f32(Math.sqrt(alphaProdPrev)) * beta) / betaProd);
  const sampleCoef = f32(f32(f32(Math.sqrt(alpha)) * betaProdPrev) / betaProd);
  return x0.map((v, i) => f32(x0Coef * v) + f32(sampleCoef * sample[i]));
}

/**
 * Dynamic thresholding (Imagen): per batch item, s = quantile(|x|, ratio) clamped to [1, sampleMaxValue],
 * then x → clamp(x, -s, s) / s.
 */
function threshold(x: Float32Array, batch: number, cfg: SampleClipConfig): Float32Array {
  const per = x.length / batch;
  const out = new Float32Array(x.length);
  for (let b = 0; b < batch; b++) {
    const row = x.subarray(b * per, (b + 1) * per);
    const s = Math.min(Math.max(quantileF32(row.map(Math.abs), cfg.dynamicThresholdingRatio), 1), f32(cfg.sampleMaxValue));
    for (let i = 0; i < per; i++) out[b * per + i] = Math.min(Math.max(row[i], -s), s) / s;
  }
  return out;
}

/** The predicted x_0 bounded as configured: thresholding wins over clipping; neither leaves it as is. */
export function boundOriginal(x0: Float32Array, shape: readonly number[], cfg: SampleClipConfig): Float32Array {
  if (cfg.thresholding) return threshold(x0, shape[0], cfg);
  return cfg.clipSample ? clamp(x0, cfg.clipSampleRange) : x0;
}

/** torch.clamp(x, -range, range) in place. */
export function clamp(x: Float32Array, range: number): Float32Array {
  const r = f32(range);
  for (let i = 0; i < x.length; i++) x[i] = Math.min(Math.max(x[i], -r), r);
  return x;
}

/**
 * The schedulers' add_noise: √ᾱ_t · x_0 + √(1-ᾱ_t) · noise with ᾱ from `alphasCumprod`; `timesteps` holds one
 * timestep per batch item, or one for the whole batch.
 */
export function addNoiseWith(alphasCumprod: Float32Array, original: HostTensor, noise: Float32Array, timesteps: readonly number[]): Float32Array {
  const batch = original.shape[0];
  if (noise.length !== original.data.length) {
    throw new RangeError(`add_noise: noise has ${noise.length} values, the samples ${original.data.length}`);
  }
  if (timesteps.length !== 1 && timesteps.length !== batch) {
    throw new RangeError(`add_noise: ${timesteps.length} timesteps for a batch of ${batch}`);
  }
  const per = original.data.length / batch;
  const out = new Float32Array(original.data.length);
  for (let b = 0; b < batch; b++) {
    const t = timesteps[timesteps.length === 1 ? 0 : b];
    checkTimestep(t, alphasCumprod.length);
    const { sqrtAlpha, sqrtBeta } = noiseLevels(alphasCumprod[t]);
    for (let i = b * per; i < (b + 1) * per; i++) out[i] = f32(sqrtAlpha * original.data[i]) + f32(sqrtBeta * noise[i]);
  }
  return out;
}

export function checkTimestep(t: number, numTrain: number): void {
  if (!Number.isInteger(t) || t < 0 || t >= numTrain) throw new RangeError(`timestep ${t} is not an integer in [0, ${numTrain})`);
}

/**
 * The part of the model output a scheduler reads: the prediction (eps, x0, v) and, for a scheduler with a
 * learned variance, the variance half. An output of 2C channels for a sample of C is [prediction, variance]
 * (the Kandinsky UNet's); one of C channels is the prediction alone, which a learned variance cannot use.
 */
export function splitModelOutput(who: string, modelOutput: HostTensor, sample: HostTensor, learnedVariance: boolean): { prediction: Float32Array; variance?: Float32Array } {
  const channels = sample.shape[1];
  if (modelOutput.data.length === sample.data.length) {
    if (learnedVariance) throw new RangeError(`${who}: a learned variance needs the model output's variance half (${2 * channels} channels), got [${modelOutput.shape}] for sample [${sample.shape}]`);
    return { prediction: modelOutput.data };
  }
  if (modelOutput.shape[1] !== 2 * channels || modelOutput.data.length !== 2 * sample.data.length) {
    throw new RangeError(`${who}: model output [${modelOutput.shape}] is neither the sample's shape [${sample.shape}] nor its ${2 * channels}-channel [prediction, variance]`);
  }
  const [prediction, variance] = splitChannels(modelOutput, channels);
  return learnedVariance ? { prediction: prediction.data, variance: variance.data } : { prediction: prediction.data };
}

/**
 * variance_type "learned_range": the standard deviation per element from the model's v in [-1, 1], which
 * interpolates the log-variance between minLog (v = -1) and maxLog (v = 1).
 */
export function learnedRangeStd(v: Float32Array, minLog: number, maxLog: number): Float32Array {
  return v.map((x) => {
    const frac = f32(f32(x + 1) / 2);
    return expF32(f32(0.5 * f32(f32(frac * maxLog) + f32(f32(1 - frac) * minLog))));
  });
}
