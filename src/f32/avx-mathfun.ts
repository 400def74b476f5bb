// Float32 log and sincos exactly as torch's AVX2 randn kernel computes them (Cephes-style "avx_mathfun" with
// the compiler's FMA contractions), so that our normal samples match torch's bit for bit. Every step is an
// IEEE float32 operation; a fused multiply-add is emulated as fround(a*b + c) in float64, where the product
// of two float32 values is exact.
import { f32 as fr, fma } from "./scalar.js";

const SQRT_HALF = fr(0.707106781186547524);
const LOG_P = [
  7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
  -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
].map(fr);
const LOG_Q1 = fr(-2.12194440e-4);
const LOG_Q2 = fr(0.693359375);

const FOUR_OVER_PI = fr(1.27323954473516);
const DP1 = fr(-0.78515625);
const DP2 = fr(-2.4187564849853515625e-4);
const DP3 = fr(-3.77489497744594108e-8);
const COS_P0 = fr(2.443315711809948e-5);
const COS_P1 = fr(-1.388731625493765e-3);
const COS_P2 = fr(4.166664568298827e-2);
const SIN_P0 = fr(-1.9515295891e-4);
const SIN_P1 = fr(8.3321608736e-3);
const SIN_P2 = fr(-1.6666654611e-1);

// Scratch view for reading/writing float32 bit patterns (no per-call allocation).
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Natural log of a positive, normal float32 `x`, float32 arithmetic. */
export function logf(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  // Split x = m * 2^e with m in [0.5, 1).
  u32[0] = (bits & 0x807fffff) | 0x3f000000;
  const m = f32[0];
  let e = fr((bits >>> 23) - 127 + 1);
  let t: number;
  if (m < SQRT_HALF) {
    e = fr(e - 1);
    t = fr(fr(m - 1) + m);
  } else {
    t = fr(m - 1);
  }
  const z = fr(t * t);
  let y = LOG_P[0];
  for (let i = 1; i < LOG_P.length; i++) y = fma(y, t, LOG_P[i]);
  y = fr(y * t);
  y = fma(y, z, fr(e * LOG_Q1));
  y = fr(y - fr(z * 0.5));
  return fr(fr(t + y) + fr(e * LOG_Q2));
}

/**
 * cos and sin of a float32 angle `theta` in [0, 2π] (the only range the randn kernel produces), float32
 * arithmetic. Writes [cos, sin] into `out`.
 */
export function sincosf(theta: number, out: Float64Array): void {
  let j = Math.trunc(fr(theta * FOUR_OVER_PI));
  j = (j + 1) & ~1;
  // Extended-precision Cody–Waite reduction of theta by j·π/4.
  let x = fma(j, DP1, theta);
  x = fma(j, DP2, x);
  x = fma(j, DP3, x);
  const z = fr(x * x);

  let c = fma(COS_P0, z, COS_P1);
  c = fma(c, z, COS_P2);
  c = fr(c * z);
  c = fma(c, z, -fr(z * 0.5));
  c = fr(c + 1);

  let s = fma(SIN_P0, z, SIN_P1);
  s = fma(s, z, SIN_P2);
  s = fr(s * z);
  s = fma(s, x, x);

  const swap = (j & 2) !== 0;
  let sin = swap ? c : s;
  let cos = swap ? s : c;
  if ((j & 4) !== 0) sin = -sin;
  if (((j - 2) & 4) === 0) cos = -cos;
  out[0] = cos;
  out[1] = sin;
}
