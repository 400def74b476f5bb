import type { Value } from "../runtime/graph.js";
import type { WeightView } from "../weights/weight-view.js";

export function layerNorm(vb: WeightView, x: Value, dim: number, eps: number, affine = true): Value {
  const g = x.graph;
  const scale = affine ? vb.get("weight", [dim]) : g.constTensor(x.elem, [dim], new Array(dim).fill(1));
  const bias = affine ? vb.get("bias", [dim]) : g.constTensor(x.elem, [dim], new Array(dim).fill(0));
  return x.layerNorm(scale, bias, eps);
}

/**
 * GroupNorm over NCHW (any spatial rank): the groups are normalised as InstanceNormalization channels, which
 * ORT's CPU provider runs as one fused kernel (opset 21's GroupNormalization runs decomposed and slower).
 */
export function groupNormPlain(x: Value, groups: number, eps: number): Value {
  const g = x.graph;
  const ones = g.constTensor(x.elem, [groups], new Array(groups).fill(1));
  const zeros = g.constTensor(x.elem, [groups], new Array(groups).fill(0));
  return x.reshape([0, groups, -1]).instanceNorm(ones, zeros, eps).reshape(x.shape());
}

/** Per-channel affine for NCHW tensors: x * w[c] + b[c]. */
export function channelAffine(x: Value, w: Value, b: Value, channels: number): Value {
  return x.mul(w.reshape([channels, 1, 1])).add(b.reshape([channels, 1, 1]));
}

export function groupNorm(vb: WeightView, x: Value, groups: number, channels: number, eps: number, affine = true): Value {
  const y = groupNormPlain(x, groups, eps);
  return affine ? channelAffine(y, vb.get("weight", [channels]), vb.get("bias", [channels]), channels) : y;
}
