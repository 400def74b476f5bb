// Noise schedules as diffusers 0.24 builds them: float32 torch tensors on CPU, every value rounded the way
// torch rounds it, so ᾱ (and with it the reference step cases) comes out bit for bit.
import type { BetaConfig } from "./config.js";

const f32 = Math.fround;

/** Float32 lanes of torch's CPU vector type (AVX2 and NEON builds), which fills linspace a vector at a time. */
const VEC = 8;

/**
 * torch.linspace(start, end, steps, dtype=float32) on CPU, bit for bit: a float32 step; value i is
 * start + step·i in the first half and end - step·(steps-1-i) in the second. The kernel fills pairs of
 * 8-lane vectors from the value at each vector's first index b (v_b + k·step for lane k) and the leftover
 * tail one value at a time, and these roundings differ by an ulp here and there, enough to move ᾱ.
 */
export function linspaceF32(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  const s = f32(start), e = f32(end);
  if (steps === 1) {
    out[0] = s;
    return out;
  }
  const step = f32(f32(e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  const at = (i: number) => (i < half ? f32(s + f32(step * i)) : f32(e - f32(step * (steps - i - 1))));
  const vectorized = Math.floor(steps / (2 * VEC)) * 2 * VEC;
  for (let b = 0; b < vectorized; b += VEC) {
    const first = at(b);
    for (let k = 0; k < VEC; k++) out[b + k] = first + f32(k * step);
  }
  for (let i = vectorized; i < steps; i++) out[i] = at(i);
  return out;
}

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

/** torch.cumprod of float32 on CPU: accumulates in float64, stores each prefix product as float32. */
export function cumprodF32(values: Float32Array): Float32Array {
  const out = new Float32Array(values.length);
  let acc = 1;
  for (let i = 0; i < values.length; i++) out[i] = acc *= values[i];
  return out;
}

/** Rescales betas to zero terminal SNR (Lin et al. 2023, Algorithm 1), in float32 as the reference. */
export function rescaleZeroTerminalSnr(betas: Float32Array): Float32Array {
  const n = betas.length;
  const sqrtBar = cumprodF32(alphasFromBetas(betas)).map(Math.sqrt);
  const first = sqrtBar[0], last = sqrtBar[n - 1];
  const scale = f32(first / f32(first - last));
  const bar = sqrtBar.map((x) => {
    const y = f32(f32(x - last) * scale);
    return y * y;
  });
  return bar.map((ab, i) => 1 - (i === 0 ? ab : f32(ab / bar[i - 1])));
}
