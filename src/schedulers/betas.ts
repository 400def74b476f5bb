// Noise schedules as diffusers 0.24 builds them: float32 torch tensors on CPU, every value rounded the way
// torch rounds it, so ᾱ (and with it the reference step cases) comes out bit for bit.
import type { BetaConfig } from "./config.js";
import { f32 } from "../f32/scalar.js";
import { cumprodF32, linspaceF32 } from "../f32/torch-ops.js";

/** GLIDE's cosine schedule (betas_for_alpha_bar, "cosine"): computed in float64, stored as float32. */
export function betasForAlphaBar(numTimesteps: number, maxBeta = 0.999): Float32Array {
  const alphaBar = (t: number) => {
    const c = Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2));
    return c * c;
  };
  const out = new Float32Array(numTimesteps);
  for (let i = 0; i < numTimesteps; i++) {
    out[i] = Math.min(1 - alphaBar((i + 1) / numTimesteps) / alphaBar(i / numTimesteps), maxBeta);
  }
  return out;
}

export function makeBetas(c: BetaConfig): Float32Array {
  if (c.trainedBetas) {
    if (c.trainedBetas.length !== c.numTrainTimesteps) {
      throw new RangeError(`trained_betas has ${c.trainedBetas.length} values, num_train_timesteps is ${c.numTrainTimesteps}`);
    }
    return Float32Array.from(c.trainedBetas);
  }
  switch (c.betaSchedule) {
    case "linear":
      return linspaceF32(c.betaStart, c.betaEnd, c.numTrainTimesteps);
    case "scaled_linear":
      // linspace of the square roots, squared in float32.
      return linspaceF32(Math.sqrt(c.betaStart), Math.sqrt(c.betaEnd), c.numTrainTimesteps).map((x) => x * x);
    case "squaredcos_cap_v2":
      return betasForAlphaBar(c.numTrainTimesteps);
  }
}

/** 1 - betas, in float32. */
export function alphasFromBetas(betas: Float32Array): Float32Array {
  return betas.map((b) => 1 - b);
}

/** ᾱ: the cumulative product of 1 - betas. */
export function alphasCumprod(betas: Float32Array): Float32Array {
  return cumprodF32(alphasFromBetas(betas));
}

/** Rescales betas to zero terminal SNR (Lin et al. 2023, Algorithm 1), in float32 as the reference. */
export function rescaleZeroTerminalSnr(betas: Float32Array): Float32Array {
  const n = betas.length;
  const sqrtBar = alphasCumprod(betas).map(Math.sqrt);
  const first = sqrtBar[0], last = sqrtBar[n - 1];
  const scale = f32(first / f32(first - last));
  const bar = sqrtBar.map((x) => {
    const y = f32(f32(x - last) * scale);
    return y * y;
  });
  return bar.map((ab, i) => 1 - (i === 0 ? ab : f32(ab / bar[i - 1])));
}
