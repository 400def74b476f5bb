// torch's float32 CPU tensor ops that the host code needs, bit for bit (every value rounded as torch rounds it).
import { f32 } from "./scalar.js";

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

/** torch.cumprod of float32 on CPU: accumulates in float64, stores each prefix product as float32. */
export function cumprodF32(values: Float32Array): Float32Array {
  const out = new Float32Array(values.length);
  let acc = 1;
  for (let i = 0; i < values.length; i++) out[i] = acc *= values[i];
  return out;
}

/** Linear-interpolated quantile of float32 values, as torch.quantile (float32 rank and lerp). */
export function quantileF32(values: Float32Array, q: number): number {
  const sorted = values.slice().sort();
  const rank = f32(f32(q) * (sorted.length - 1));
  const lo = Math.floor(rank);
  const w = f32(rank - lo);
  const a = sorted[lo], b = sorted[Math.min(lo + 1, sorted.length - 1)];
  return w < 0.5 ? f32(a + f32(w * f32(b - a))) : f32(b - f32(f32(b - a) * f32(1 - w)));
}
