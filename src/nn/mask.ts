// Additive attention biases (0 = attend, `value` = masked), 4-D as nn/attention.ts wants them. A value beyond the
// element type's range is clamped to its lowest finite number (as transformers' finfo.min), so that float16
// biases stay finite.
import { encodeValues, type Value } from "../runtime/graph.js";
import type { Elem } from "../runtime/onnx-schema.js";

const LOWEST: Partial<Record<Elem, number>> = { float16: -65504 };

function finite(value: number, elem: Elem): number {
  return Math.max(value, LOWEST[elem] ?? -Number.MAX_VALUE);
}

/** [1, 1, L, L]: `value` where the key comes after the query (strict upper triangle), 0 elsewhere. `len`: int64 [1]. */
export function causalBias(len: Value, elem: Elem, value: number): Value {
  const g = len.graph;
  const filled = g.op1("ConstantOfShape", [g.concat([len, len], 0)],
    { value: { tensor: { elem, dims: [1], bytes: encodeValues(elem, [finite(value, elem)]) } } }, elem);
  return g.op1("Trilu", [filled, g.constTensor("int64", [], [1])], { upper: 1 }).unsqueeze([0, 1]);
}

/** [B, 1, 1, L] from a key mask [B, L] (nonzero/true = keep, any numeric or bool type): 0 where kept, else `value`. */
export function paddingBias(mask: Value, elem: Elem, value: number): Value {
  const g = mask.graph;
  const keep = mask.cast("bool");
  return g.op1("Where", [keep, g.constTensor(elem, [], [0]), g.constTensor(elem, [], [finite(value, elem)])], undefined, elem).unsqueeze([1, 2]);
}
