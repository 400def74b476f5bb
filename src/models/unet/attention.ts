// diffusers' Attention with added_kv_proj_dim under AttnAddedKVProcessor: GroupNorm on the feature map, queries
// from its pixels, keys/values = cat(add_k/v_proj(encoder tokens), to_k/v(pixels)) — encoder tokens first —
// then to_out and the residual. No mask: padding tokens are attended, as in the reference.
import type { Value } from "../../runtime/graph.js";
import type { WeightView } from "../../weights/weight-view.js";
import { linear } from "../../nn/linear.js";
import { groupNorm } from "../../nn/norm.js";
import { attention } from "../../nn/attention.js";

export interface AddedKVAttentionConfig {
  channels: number;
  headDim: number;
  /** Size of the encoder tokens (added_kv_proj_dim = cross_attention_dim). */
  crossDim: number;
  groups: number;
  /** Keys/values from the encoder tokens only. */
  onlyCross: boolean;
}

/** Attention's own GroupNorm eps (the blocks do not pass norm_eps to it). */
const ATTN_NORM_EPS = 1e-5;

/** x [B, C, H, W], enc [B, L, crossDim] → [B, C, H, W]. */
export function addedKVAttention(vb: WeightView, x: Value, enc: Value, c: AddedKVAttentionConfig): Value {
  const C = c.channels;
  const tokens = groupNorm(vb.pp("group_norm"), x, c.groups, C, ATTN_NORM_EPS).reshape([0, C, -1]).transpose([0, 2, 1]);
  const q = linear(vb.pp("to_q"), tokens, C, C);
  let k = linear(vb.pp("add_k_proj"), enc, c.crossDim, C);
  let v = linear(vb.pp("add_v_proj"), enc, c.crossDim, C);
  if (!c.onlyCross) {
    const g = x.graph;
    k = g.concat([k, linear(vb.pp("to_k"), tokens, C, C)], 1);
    v = g.concat([v, linear(vb.pp("to_v"), tokens, C, C)], 1);
  }
  const a = attention(q, k, v, { heads: C / c.headDim, headDim: c.headDim }, vb.store.opts);
  const out = linear(vb.pp("to_out").pp(0), a, C, C).transpose([0, 2, 1]).reshape(x.shape());
  return out.add(x);
}
