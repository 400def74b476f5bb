// torch.exp on float32 CPU tensors, bit for bit: torch evaluates it with SLEEF's expf (1-ulp variant), which
// is not always the correctly rounded result; where a step multiplies a large exp by noise (DDPM's
// learned-range variance on its last step) that last bit shows at the tolerances the references ask for.
import { f32, fma, roundHalfEven } from "./scalar.js";

const LOG2E = f32(1.4426950408889634);
// ln 2 split in a high part with trailing zero bits and the float remainder, for an exact q·ln2 reduction.
const LN2_HI = f32(0.693145751953125);
const LN2_LO = f32(1.428606765330187e-6);
// Minimax polynomial for (e^s - 1 - s) / s² on |s| <= ln2/2, highest degree first.
const POLY = [1.98527617612853646e-4, 1.39304355252534151e-3, 8.33336077630519867e-3, 4.16664853692054749e-2, 1.66666671633720398e-1, 0.5].map(f32);

/** float32 e^x as torch computes it (SLEEF expf_u10: reduction by ln 2, degree-5 polynomial, FMA). */
export function expF32(x: number): number {
  const d = f32(x);
  if (d < -104) return 0;
  if (d > 100) return Infinity;
  const q = roundHalfEven(f32(d * LOG2E));
  const s = fma(q, -LN2_LO, fma(q, -LN2_HI, d));
  let u = POLY[0];
  for (let k = 1; k < POLY.length; k++) u = fma(u, s, POLY[k]);
  u = f32(1 + fma(f32(s * s), u, s));
  // 2^q in two factors, so neither overflows near the range ends.
  const h = q >> 1;
  return f32(f32(u * 2 ** h) * 2 ** (q - h));
}
