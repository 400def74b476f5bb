// diffusers' sinusoidal timestep projection (`Timesteps`, i.e. get_timestep_embedding with max_period 10000).
import type { Value } from "../runtime/graph.js";

/**
 * t [N] (any numeric type) → [N, dim] float32: [sin | cos] of t * freq_i, freq_i = exp(-ln(10000) * i / (dim/2 - shift)),
 * halves swapped to [cos | sin] with `flipSinToCos`, an odd `dim` padded with one zero column.
 */
export function timestepProjection(t: Value, dim: number, flipSinToCos: boolean, freqShift: number): Value {
  const g = t.graph;
  const half = Math.floor(dim / 2);
  // Rounded step by step as torch computes them in float32 (the arguments reach ~1000 rad, so ulps matter).
  const logMax = Math.fround(-Math.log(10000));
  const freqs = Array.from({ length: half }, (_, i) => Math.fround(Math.exp(Math.fround(Math.fround(logMax * i) / (half - freqShift)))));
  const args = t.cast("float32").unsqueeze([1]).mul(g.constTensor("float32", [half], freqs));
  const parts = flipSinToCos ? [args.cos(), args.sin()] : [args.sin(), args.cos()];
  if (dim % 2 === 1) parts.push(g.constantOfShape(g.concat([t.shape(), g.constInt64([1])], 0)));
  return g.concat(parts, 1);
}
