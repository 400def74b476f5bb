// Additive attention biases (0 = attend, `value` = masked), 4-D as nn/attention.ts wants them. A value beyond the
// element type's range is clamped to its lowest finite number (as transformers' finfo.min), so that float16
// biases stay finite.
import type { Value } from "../runtime/graph.js";
import type { Elem } from "../runtime/onnx-schema.js";

const LOWEST: Partial<Record<Elem, number>> = { float16: -65504 };

function finite(value: number, elem: Elem): number {
  return Math.max(value, LOWEST[elem] ?? -Number.MAX_VALUE);
}

/** [1, 1, L, L]: `value` where the key comes after the query (strict upper triangle), 0 elsewhere. `len`: int64 [1]. */
export function causalBias(len: Value, elem: Elem, value: number): Value {
  const g = len.graph;
  return g.constantOfShape(g.concat([len, len], 0), finite(value, elem), elem).triu(1).unsqueeze([0, 1]);
}

/** [B, 1, 1, L] from a key mask [B, L] (nonzero/true = keep, any numeric or bool type): 0 where kept, else `value`. */
export function paddingBias(mask: Value, elem: Elem, value: number): Value {
  return mask.cast("bool").where(0, finite(value, elem), elem).unsqueeze([1, 2]);
}
