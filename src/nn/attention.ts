// Scaled dot-product attention over [batch, tokens, heads*dim] tensors, in one of two forms:
// - "fused": com.microsoft.MultiHeadAttention, ORT's fastest CPU kernel;
// - "plain": MatMul / Softmax / MatMul, which every provider runs (MultiHeadAttention gave wrong results on
//   WebGPU/lavapipe, see shared notes) — selectable per provider.
import type { Value } from "../runtime/graph.js";
import type { BuildOptions } from "../weights/weight-view.js";

export interface AttentionArgs {
  heads: number;
  headDim: number;
  /** Additive bias on the scores, 4-D, broadcastable to [batch, heads, queries, keys]. */
  bias?: Value;
  /** Score scale; default 1/sqrt(headDim). */
  scale?: number;
}

export function attention(q: Value, k: Value, v: Value, a: AttentionArgs, opts: BuildOptions): Value {
  const scale = a.scale ?? 1 / Math.sqrt(a.headDim);
  if (opts.attention === "fused") return q.multiHeadAttention(k, v, a.heads, scale, a.bias);
  const split = (x: Value) => x.reshape([0, 0, a.heads, a.headDim]);
  const qh = split(q).transpose([0, 2, 1, 3]);
  const kt = split(k).transpose([0, 2, 3, 1]);
  const vh = split(v).transpose([0, 2, 1, 3]);
  let scores = qh.matmul(kt).mul(scale);
  if (a.bias) scores = scores.add(a.bias);
  const out = scores.softmax(-1).matmul(vh);
  return out.transpose([0, 2, 1, 3]).reshape([0, 0, a.heads * a.headDim]);
}
