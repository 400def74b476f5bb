// Nearest-neighbour resizing of NCHW maps with torch's legacy "nearest" rule, src = floor(dst * in / out)
// (ONNX Resize: asymmetric coordinates, floor rounding).
import type { Value } from "../runtime/graph.js";

const NEAREST = { mode: "nearest", coordinate_transformation_mode: "asymmetric", nearest_mode: "floor" };

/** F.interpolate(x, scale_factor=factor, mode="nearest") on the spatial axes. */
export function upsampleNearest(x: Value, factor: number): Value {
  const g = x.graph;
  return g.op1("Resize", [x, null, g.constTensor("float32", [4], [1, 1, factor, factor])], NEAREST);
}

/** F.interpolate(x, size=like.shape[-2:], mode="nearest"): x resized to another map's runtime height and width. */
export function resizeNearestLike(x: Value, like: Value): Value {
  const g = x.graph;
  return g.op1("Resize", [x, null, null, g.concat([x.shape(0, 2), like.shape(2, 4)], 0)], NEAREST);
}
