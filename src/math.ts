// Numeric helpers shared by the host-side code.

/** numpy's round (half to even), as the reference's schedules and image conversions use it. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds .5 up; step back when that lands on an odd number.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
