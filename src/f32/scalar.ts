// Scalar float32 arithmetic on JS numbers (float64), and numpy's rounding; see README.md.

/** Rounds to the nearest float32: applied to every operation's result, as torch stores each one. */
export const f32 = Math.fround;

/** Single-precision fused multiply-add (the product of two floats is exact in float64). */
export const fma = (a: number, b: number, c: number): number => f32(a * b + c);

/** numpy's round (half to even), as the reference's schedules and image conversions use it. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds .5 up; step back when that lands on an odd number.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
