// diffusers' Attention as the VQ autoencoder builds it (`_from_deprecated_attn_block`): single-head
// self-attention over the H*W positions of a [B, C, H, W] map, normalised first, added back to its input.
import type { Value } from "../../runtime/graph.js";
import type { WeightView } from "../../weights/weight-view.js";
import { linear } from "../../nn/linear.js";
import { attention } from "../../nn/attention.js";
import { normalize, type NormSpec } from "./spatial-norm.js";

export function attnBlock(vb: WeightView, x: Value, channels: number, n: NormSpec): Value {
  const h = normalize(vb.pp(n.spatial ? "spatial_norm" : "group_norm"), x, channels, n);
  const tokens = h.reshape([0, channels, -1]).transpose([0, 2, 1]);
  const q = linear(vb.pp("to_q"), tokens, channels, channels);
  const k = linear(vb.pp("to_k"), tokens, channels, channels);
  const v = linear(vb.pp("to_v"), tokens, channels, channels);
  const a = attention(q, k, v, { heads: 1, headDim: channels }, vb.store.opts);
  const out = linear(vb.pp("to_out").pp(0), a, channels, channels);
  return x.add(out.transpose([0, 2, 1]).reshape(x.shape()));
}
