// diffusers' PriorTransformer (unCLIP prior) as Kandinsky 2.1 configures it: predicts a CLIP image embedding
// from the noisy one, the timestep, the CLIP text embedding and the text encoder's hidden states.
import type { Value } from "../runtime/graph.js";
import type { WeightView } from "../weights/weight-view.js";
import { ConfigError, withDefaults } from "../weights/config.js";
import type { Checkpoint } from "../weights/checkpoint.js";
import { WeightError } from "../weights/checkpoint.js";
import { linear } from "../nn/linear.js";
import { layerNorm } from "../nn/norm.js";
import { attention } from "../nn/attention.js";
import { activation } from "../nn/activation.js";
import { causalBias, paddingBias } from "../nn/mask.js";
import { timestepProjection } from "../nn/timesteps.js";
import { floatInput, floatOutput, type NetworkSpec } from "./network.js";
import type { HostTensor } from "../runtime/host-tensor.js";

/** The prior's own mask value (not finfo.min): padded text keys and future tokens get -10000 each. */
const PRIOR_MASKED = -10000;
/** diffusers' nn.LayerNorm default. */
const LN_EPS = 1e-5;
/** Tokens after the text states: proj_embedding, time embedding, noisy latent, prd. */
const EXTRA_TOKENS = 4;

export interface PriorConfig {
  heads: number;          // num_attention_heads
  headDim: number;        // attention_head_dim
  layers: number;         // num_layers
  embeddingDim: number;   // embedding_dim: hidden_states and encoder_hidden_states width
  numEmbeddings: number;  // num_embeddings: text tokens (L)
  timeEmbedDim: number;   // time_embed_dim (null → inner dim)
  timeEmbedAct: string;   // time_embed_act_fn
  embeddingProjDim: number; // embedding_proj_dim (null → embedding_dim): proj_embedding width
  clipEmbedDim: number;   // clip_embed_dim (null → embedding_dim): output width (and clip_mean/clip_std)
}

/** PriorTransformer.__init__'s defaults (diffusers 0.24), by config key (dropout left out: inference has none). */
export const PRIOR_DEFAULTS: Readonly<Record<string, unknown>> = {
  num_attention_heads: 32,
  attention_head_dim: 64,
  num_layers: 20,
  embedding_dim: 768,
  num_embeddings: 77,
  additional_embeddings: 4,
  time_embed_act_fn: "silu",
  norm_in_type: null,
  embedding_proj_norm_type: null,
  encoder_hid_proj_type: "linear",
  added_emb_type: "prd",
  time_embed_dim: null,
  embedding_proj_dim: null,
  clip_embed_dim: null,
};

export function priorConfig(raw: Record<string, any>): PriorConfig {
  const what = "PriorTransformer";
  const cfg = withDefaults(raw, PRIOR_DEFAULTS);
  const only = (key: string, supported: unknown) => {
    if (cfg[key] !== supported) {
      throw new ConfigError(`${what} config: ${key} ${JSON.stringify(cfg[key])} is not supported (only ${JSON.stringify(supported)}, as in Kandinsky 2.1)`);
    }
  };
  only("norm_in_type", null);
  only("embedding_proj_norm_type", null);
  only("encoder_hid_proj_type", "linear");
  only("added_emb_type", "prd");
  only("additional_embeddings", EXTRA_TOKENS);
  const heads = cfg.num_attention_heads, headDim = cfg.attention_head_dim;
  const embeddingDim = cfg.embedding_dim;
  return {
    heads, headDim,
    layers: cfg.num_layers,
    embeddingDim,
    numEmbeddings: cfg.num_embeddings,
    timeEmbedDim: cfg.time_embed_dim ?? heads * headDim,
    timeEmbedAct: cfg.time_embed_act_fn,
    embeddingProjDim: cfg.embedding_proj_dim ?? embeddingDim,
    clipEmbedDim: cfg.clip_embed_dim ?? embeddingDim,
  };
}

/** diffusers' BasicTransformerBlock as the prior builds it: pre-LN self-attention (biased q/k/v) and a GELU MLP (x4). */
function block(vb: WeightView, x: Value, bias: Value, c: PriorConfig): Value {
  const dim = c.heads * c.headDim;
  const at = vb.pp("attn1");
  const h = layerNorm(vb.pp("norm1"), x, dim, LN_EPS);
  const q = linear(at.pp("to_q"), h, dim, dim);
  const k = linear(at.pp("to_k"), h, dim, dim);
  const v = linear(at.pp("to_v"), h, dim, dim);
  const a = attention(q, k, v, { heads: c.heads, headDim: c.headDim, bias }, vb.store.opts);
  x = x.add(linear(at.pp("to_out").pp(0), a, dim, dim));
  const ff = vb.pp("ff").pp("net");
  const h2 = linear(ff.pp(0).pp("proj"), layerNorm(vb.pp("norm3"), x, dim, LN_EPS), dim, 4 * dim).gelu();
  return x.add(linear(ff.pp(2), h2, 4 * dim, dim));
}

/**
 * hidden_states [B, embeddingDim], timestep int64 [1 or B], proj_embedding [B, embeddingProjDim],
 * encoder_hidden_states [B, L, embeddingDim], attention_mask bool [B, L] → predicted_image_embedding [B, clipEmbedDim].
 * Tokens [text (L), proj_embedding, time, latent, prd]; the output is read at the prd token.
 */
export function prior(vb: WeightView, x: Value, t: Value, proj: Value, text: Value, mask: Value, c: PriorConfig): Value {
  const g = x.graph;
  const dim = c.heads * c.headDim;
  const tokens = c.numEmbeddings + EXTRA_TOKENS;
  const batch = x.shape(0, 1);

  // One timestep per sample (a single one is broadcast); projected in float32 as diffusers does.
  const tp = timestepProjection(t.expand(batch), dim, true, 0).cast(x.elem);
  const te = vb.pp("time_embedding");
  const time = linear(te.pp("linear_2"),
    activation(c.timeEmbedAct, linear(te.pp("linear_1"), tp, dim, c.timeEmbedDim)), c.timeEmbedDim, dim);

  const row = (v: Value) => v.unsqueeze([1]);
  const prd = vb.get("prd_embedding", [1, 1, dim]).expand(g.concat([batch, g.constInt64([1, dim])], 0));
  let h = g.concat([
    linear(vb.pp("encoder_hidden_states_proj"), text, c.embeddingDim, dim),
    row(linear(vb.pp("embedding_proj"), proj, c.embeddingProjDim, dim)),
    row(time),
    row(linear(vb.pp("proj_in"), x, c.embeddingDim, dim)),
    prd,
  ], 1).add(vb.get("positional_embedding", [1, tokens, dim]));

  // (1 - mask) * -10000 on the text keys, 0 on the extra ones, plus -10000 on future tokens: [B, 1, T, T].
  const keyBias = paddingBias(mask, h.elem, PRIOR_MASKED).pad([0, 0, 0, 0, 0, 0, 0, EXTRA_TOKENS]);
  const bias = keyBias.add(causalBias(g.constInt64([tokens]), h.elem, PRIOR_MASKED));
  for (let i = 0; i < c.layers; i++) h = block(vb.pp("transformer_blocks").pp(i), h, bias, c);

  // LayerNorm is per token: normalising only the prd token equals norm_out(h)[:, -1].
  const last = h.slice([-1], [tokens], [1]).squeeze([1]);
  return linear(vb.pp("proj_to_clip_embeddings"), layerNorm(vb.pp("norm_out"), last, dim, LN_EPS), dim, c.clipEmbedDim);
}

export const PriorSpec: NetworkSpec<PriorConfig> = {
  classes: ["PriorTransformer"],
  parseConfig: priorConfig,
  build(vb, c) {
    const g = vb.graph;
    const x = floatInput(vb, "hidden_states", ["batch", c.embeddingDim]);
    const t = g.input("timestep", "int64", ["timesteps"]);
    const proj = floatInput(vb, "proj_embedding", ["batch", c.embeddingProjDim]);
    const text = floatInput(vb, "encoder_hidden_states", ["batch", c.numEmbeddings, c.embeddingDim]);
    const mask = g.input("attention_mask", "bool", ["batch", c.numEmbeddings]);
    floatOutput(prior(vb, x, t, proj, text, mask, c), "predicted_image_embedding");
  },
};

/** The prior's image-embedding statistics (`clip_mean`, `clip_std`, [1, clipEmbedDim]), used on the host. */
export interface ClipStats {
  mean: Float32Array;
  std: Float32Array;
}

export function readClipStats(checkpoint: Checkpoint): ClipStats {
  const read = (key: string) => {
    const file = checkpoint.files.find((f) => f.tensors.has(key));
    if (!file) throw new WeightError(`${checkpoint.dir}: missing tensor "${key}"`);
    return file.readFloat32(key);
  };
  const mean = read("clip_mean"), std = read("clip_std");
  if (mean.length !== std.length) throw new WeightError(`${checkpoint.dir}: clip_mean has ${mean.length} values, clip_std ${std.length}`);
  return { mean, std };
}

/** PriorTransformer.post_process_latents: x * clip_std + clip_mean on each row of x [N, clipEmbedDim] (float32 rounding). */
export function postProcessLatents(stats: ClipStats, x: HostTensor): HostTensor {
  const d = stats.mean.length;
  if (x.shape.length !== 2 || x.shape[1] !== d) throw new Error(`postProcessLatents: latents [${x.shape}] are not rows of ${d}`);
  return { data: x.data.map((v, i) => Math.fround(v * stats.std[i % d]) + stats.mean[i % d]), shape: [...x.shape] };
}
