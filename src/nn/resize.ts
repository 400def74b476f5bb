// Nearest-neighbour resizing of NCHW maps with torch's legacy "nearest" rule (Value.resizeNearest).
import type { Value } from "../runtime/graph.js";

/** F.interpolate(x, scale_factor=factor, mode="nearest") on the spatial axes. */
export function upsampleNearest(x: Value, factor: number): Value {
  return x.resizeNearest([1, 1, factor, factor]);
}

/** F.interpolate(x, size=like.shape[-2:], mode="nearest"): x resized to another map's runtime height and width. */
export function resizeNearestLike(x: Value, like: Value): Value {
  return x.resizeNearest(x.graph.concat([x.shape(0, 2), like.shape(2, 4)], 0));
}
