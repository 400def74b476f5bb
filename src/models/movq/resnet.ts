// diffusers' ResnetBlock2D as the VQ autoencoder uses it (no time embedding; GroupNorm or SpatialNorm), and the
// 2x resamplers between levels.
import type { Value } from "../../runtime/graph.js";
import type { WeightView } from "../../weights/weight-view.js";
import { conv2d } from "../../nn/conv.js";
import { activation } from "../../nn/activation.js";
import { upsampleNearest } from "../../nn/resize.js";
import { normalize, type NormSpec } from "./spatial-norm.js";

export function resnetBlock(vb: WeightView, x: Value, inC: number, outC: number, n: NormSpec, act: string): Value {
  let h = activation(act, normalize(vb.pp("norm1"), x, inC, n));
  h = conv2d(vb.pp("conv1"), h, inC, outC, { kernel: 3, padding: 1 });
  h = activation(act, normalize(vb.pp("norm2"), h, outC, n));
  h = conv2d(vb.pp("conv2"), h, outC, outC, { kernel: 3, padding: 1 });
  const skip = inC === outC ? x : conv2d(vb.pp("conv_shortcut"), x, inC, outC, { kernel: 1 });
  return skip.add(h);
}

/** Downsample2D with padding 0: zero-pad one row/column at the bottom/right, then a stride-2 3x3 conv. */
export function downsample(vb: WeightView, x: Value, channels: number): Value {
  return conv2d(vb.pp("conv"), x, channels, channels, { kernel: 3, stride: 2, pads: [0, 0, 1, 1] });
}

/** Upsample2D: nearest 2x, then a 3x3 conv. */
export function upsample(vb: WeightView, x: Value, channels: number): Value {
  return conv2d(vb.pp("conv"), upsampleNearest(x, 2), channels, channels, { kernel: 3, padding: 1 });
}
