// The normalisations of the MoVQ blocks: GroupNorm, or SpatialNorm (the decoder's, norm_type "spatial"), which
// modulates GroupNorm(f) with 1x1 convolutions of the latents zq resized to f's size.
import type { Value } from "../../runtime/graph.js";
import type { WeightView } from "../../weights/weight-view.js";
import { groupNorm } from "../../nn/norm.js";
import { conv2d } from "../../nn/conv.js";
import { resizeNearestLike } from "../../nn/resize.js";
import { SPATIAL_NORM_GROUPS } from "./config.js";

const SPATIAL_NORM_EPS = 1e-6;

/** How a block normalises its features. */
export interface NormSpec {
  groups: number;
  eps: number;
  /** SpatialNorm conditioning: the latents and their channel count. */
  spatial?: { zq: Value; channels: number };
}

/** SpatialNorm(f, zq) = GroupNorm(f) * conv_y(zq') + conv_b(zq'), zq' = zq nearest-resized to f. */
export function spatialNorm(vb: WeightView, f: Value, channels: number, zq: Value, zqChannels: number): Value {
  const z = resizeNearestLike(zq, f);
  const norm = groupNorm(vb.pp("norm_layer"), f, SPATIAL_NORM_GROUPS, channels, SPATIAL_NORM_EPS);
  const scale = conv2d(vb.pp("conv_y"), z, zqChannels, channels, { kernel: 1 });
  const shift = conv2d(vb.pp("conv_b"), z, zqChannels, channels, { kernel: 1 });
  return norm.mul(scale).add(shift);
}

export function normalize(vb: WeightView, x: Value, channels: number, n: NormSpec): Value {
  return n.spatial
    ? spatialNorm(vb, x, channels, n.spatial.zq, n.spatial.channels)
    : groupNorm(vb, x, n.groups, channels, n.eps);
}
