// Conditioning embeddings of the Kandinsky 2.1 UNet (diffusers' Timesteps, TimestepEmbedding,
// TextImageTimeEmbedding, TextImageProjection).
import type { Value } from "../../runtime/graph.js";
import type { WeightView } from "../../weights/weight-view.js";
import { linear } from "../../nn/linear.js";
import { layerNorm } from "../../nn/norm.js";
import { activation } from "../../nn/activation.js";

const f32 = Math.fround;

/**
 * Sinusoidal timestep features [B, dim] (float32) of timesteps t [B] (float32). The frequencies
 * exp(-ln(10000) i / (dim/2 - shift)) are rounded step by step as torch computes them in float32, so the
 * arguments t * freq (up to ~1000 rad) match the reference.
 */
export function timestepFeatures(t: Value, dim: number, flipSinToCos: boolean, freqShift: number): Value {
  const g = t.graph;
  const half = Math.floor(dim / 2);
  const freqs = Array.from({ length: half }, (_, i) => f32(Math.exp(f32(f32(f32(-Math.log(10000)) * i) / f32(half - freqShift)))));
  const args = t.unsqueeze([1]).mul(g.constTensor("float32", [1, half], freqs));
  const [sin, cos] = [args.sin(), args.cos()];
  const emb = g.concat(flipSinToCos ? [cos, sin] : [sin, cos], 1);
  // An odd dim gets a zero last column.
  return dim % 2 ? emb.pad([0, 0, 0, 1]) : emb;
}

/** TimestepEmbedding: linear_1 → act → linear_2 (→ optional post-activation). */
export function timestepEmbedding(vb: WeightView, x: Value, inDim: number, dim: number, act: string, postAct: string | null): Value {
  const h = linear(vb.pp("linear_2"), activation(act, linear(vb.pp("linear_1"), x, inDim, dim)), dim, dim);
  return postAct ? activation(postAct, h) : h;
}

/** TextImageTimeEmbedding: LayerNorm(Linear(text_embeds)) + Linear(image_embeds), added to the time embedding. */
export function textImageTimeEmbedding(vb: WeightView, text: Value, image: Value, embedDim: number, dim: number): Value {
  const t = layerNorm(vb.pp("text_norm"), linear(vb.pp("text_proj"), text, embedDim, dim), dim, 1e-5);
  return linear(vb.pp("image_proj"), image, embedDim, dim).add(t);
}

/**
 * TextImageProjection: the cross-attention tokens, `tokens` image tokens from Linear(image_embeds) first, then
 * Linear(text hidden states): [B, tokens + L, crossDim].
 */
export function textImageProjection(vb: WeightView, textStates: Value, image: Value, textDim: number, crossDim: number, tokens: number): Value {
  const img = linear(vb.pp("image_embeds"), image, crossDim, tokens * crossDim).reshape([0, tokens, crossDim]);
  return image.graph.concat([img, linear(vb.pp("text_proj"), textStates, textDim, crossDim)], 1);
}
