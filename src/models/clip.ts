// CLIP text and vision transformers with projections (transformers' CLIPTextModelWithProjection and
// CLIPVisionModelWithProjection): the prior's text encoder and image encoder.
import type { Value } from "../runtime/graph.js";
import { causalBias, paddingBias } from "../nn/mask.js";
import type { WeightView } from "../weights/weight-view.js";
import { withDefaults } from "../weights/config.js";
import { linear } from "../nn/linear.js";
import { layerNorm } from "../nn/norm.js";
import { attention } from "../nn/attention.js";
import { activation } from "../nn/activation.js";
import { conv2d } from "../nn/conv.js";
import { floatInput, floatOutput, type NetworkSpec } from "./network.js";

/** Large negative additive mask value: exp() of it underflows to exactly 0, like transformers' finfo.min. */
export const MASKED = -1e9;

export interface ClipEncoderConfig {
  hidden: number;
  intermediate: number;
  heads: number;
  layers: number;
  act: string;
  eps: number;
}

/** The encoder part of a config already filled with its class's defaults. */
function encoderConfig(cfg: Record<string, any>): ClipEncoderConfig {
  return {
    hidden: cfg.hidden_size,
    intermediate: cfg.intermediate_size,
    heads: cfg.num_attention_heads,
    layers: cfg.num_hidden_layers,
    act: cfg.hidden_act,
    eps: cfg.layer_norm_eps,
  };
}

/** Pre-LN transformer layers (CLIPEncoder), with an optional additive attention bias. */
export function clipEncoder(vb: WeightView, x: Value, c: ClipEncoderConfig, bias?: Value): Value {
  const headDim = c.hidden / c.heads;
  for (let i = 0; i < c.layers; i++) {
    const l = vb.pp("layers").pp(i);
    const at = l.pp("self_attn");
    const h = layerNorm(l.pp("layer_norm1"), x, c.hidden, c.eps);
    const q = linear(at.pp("q_proj"), h, c.hidden, c.hidden);
    const k = linear(at.pp("k_proj"), h, c.hidden, c.hidden);
    const v = linear(at.pp("v_proj"), h, c.hidden, c.hidden);
    const a = attention(q, k, v, { heads: c.heads, headDim, bias }, vb.store.opts);
    x = x.add(linear(at.pp("out_proj"), a, c.hidden, c.hidden));
    const m = l.pp("mlp");
    const h2 = layerNorm(l.pp("layer_norm2"), x, c.hidden, c.eps);
    x = x.add(linear(m.pp("fc2"), activation(c.act, linear(m.pp("fc1"), h2, c.hidden, c.intermediate)), c.intermediate, c.hidden));
  }
  return x;
}

export interface ClipTextConfig extends ClipEncoderConfig {
  vocab: number;
  maxPositions: number;
  projection: number;
  eosTokenId: number;
}

/**
 * CLIPTextConfig.__init__'s defaults (transformers 4.32), by config key. bos/eos are those of 4.31+; configs saved
 * before carry eos_token_id 2 explicitly, which selects the legacy pooling below.
 */
export const CLIP_TEXT_DEFAULTS: Readonly<Record<string, unknown>> = {
  vocab_size: 49408,
  hidden_size: 512,
  intermediate_size: 2048,
  projection_dim: 512,
  num_hidden_layers: 12,
  num_attention_heads: 8,
  max_position_embeddings: 77,
  hidden_act: "quick_gelu",
  layer_norm_eps: 1e-5,
  pad_token_id: 1,
  bos_token_id: 49406,
  eos_token_id: 49407,
};

export function clipTextConfig(raw: Record<string, any>): ClipTextConfig {
  const cfg = withDefaults(raw, CLIP_TEXT_DEFAULTS);
  return {
    ...encoderConfig(cfg),
    vocab: cfg.vocab_size,
    maxPositions: cfg.max_position_embeddings,
    projection: cfg.projection_dim,
    eosTokenId: cfg.eos_token_id,
  };
}

/**
 * input_ids [B, L] (int64), optional attention_mask [B, L] → text_embeds [B, projection], last_hidden_state [B, L, hidden].
 * Causal self-attention; pooled at the EOS token: transformers' legacy rule (eos_token_id == 2) pools at argmax(input_ids).
 */
export function clipText(vb: WeightView, ids: Value, mask: Value | null, c: ClipTextConfig) {
  const tm = vb.pp("text_model");
  const emb = tm.pp("embeddings");
  const len = ids.shape(1, 2);
  const tok = emb.get("token_embedding.weight", [c.vocab, c.hidden]).gather(ids);
  const pos = emb.get("position_embedding.weight", [c.maxPositions, c.hidden]).slice([0], len, [0]);
  let x = tok.add(pos);

  // Causal bias [1, 1, L, L], plus padding [B, 1, 1, L] when a mask is given.
  let bias = causalBias(len, x.elem, MASKED);
  if (mask) bias = bias.add(paddingBias(mask, x.elem, MASKED));
  x = clipEncoder(tm.pp("encoder"), x, c, bias);
  const last = layerNorm(tm.pp("final_layer_norm"), x, c.hidden, c.eps);

  const eosPos = c.eosTokenId === 2 ? ids.argmax(1, true) : ids.eq(c.eosTokenId).cast("int32").argmax(1, true);
  // Gather one row per batch item: last[b, eosPos[b]].
  const pooled = last.gatherND(eosPos, 1);
  const embeds = linear(vb.pp("text_projection"), pooled, c.hidden, c.projection, false);
  return { textEmbeds: embeds, lastHiddenState: last };
}

export interface ClipVisionConfig extends ClipEncoderConfig {
  imageSize: number;
  patchSize: number;
  channels: number;
  projection: number;
}

/** CLIPVisionConfig.__init__'s defaults (transformers 4.32), by config key. */
export const CLIP_VISION_DEFAULTS: Readonly<Record<string, unknown>> = {
  hidden_size: 768,
  intermediate_size: 3072,
  projection_dim: 512,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  num_channels: 3,
  image_size: 224,
  patch_size: 32,
  hidden_act: "quick_gelu",
  layer_norm_eps: 1e-5,
};

export function clipVisionConfig(raw: Record<string, any>): ClipVisionConfig {
  const cfg = withDefaults(raw, CLIP_VISION_DEFAULTS);
  return {
    ...encoderConfig(cfg),
    imageSize: cfg.image_size,
    patchSize: cfg.patch_size,
    channels: cfg.num_channels,
    projection: cfg.projection_dim,
  };
}

/** pixel_values [B, 3, S, S] → image_embeds [B, projection], last_hidden_state [B, 1 + patches, hidden] (before post-LN). */
export function clipVision(vb: WeightView, pixels: Value, c: ClipVisionConfig) {
  const g = pixels.graph;
  const vm = vb.pp("vision_model");
  const emb = vm.pp("embeddings");
  const patches = (c.imageSize / c.patchSize) ** 2;
  const p = conv2d(emb.pp("patch_embedding"), pixels, c.channels, c.hidden, { kernel: c.patchSize, stride: c.patchSize, bias: false });
  const tokens = p.reshape([0, c.hidden, -1]).transpose([0, 2, 1]);
  // Class token, broadcast to the batch: [B, 1, hidden].
  const cls = emb.get("class_embedding", [c.hidden]).reshape([1, 1, c.hidden])
    .expand(g.concat([pixels.shape(0, 1), g.constInt64([1, c.hidden])], 0));
  let x = g.concat([cls, tokens], 1).add(emb.get("position_embedding.weight", [patches + 1, c.hidden]));
  x = layerNorm(vm.pp("pre_layrnorm"), x, c.hidden, c.eps);
  x = clipEncoder(vm.pp("encoder"), x, c);
  const pooled = layerNorm(vm.pp("post_layernorm"), x.slice([0], [1], [1]).squeeze([1]), c.hidden, c.eps);
  return { imageEmbeds: linear(vb.pp("visual_projection"), pooled, c.hidden, c.projection, false), lastHiddenState: x };
}

export const ClipTextSpec: NetworkSpec<ClipTextConfig, { withMask: boolean }> = {
  classes: ["CLIPTextModelWithProjection"],
  parseConfig: clipTextConfig,
  build(vb, c, { withMask }) {
    const g = vb.graph;
    const ids = g.input("input_ids", "int64", ["batch", "tokens"]);
    const mask = withMask ? g.input("attention_mask", "int64", ["batch", "tokens"]) : null;
    const out = clipText(vb, ids, mask, c);
    floatOutput(out.textEmbeds, "text_embeds");
    floatOutput(out.lastHiddenState, "last_hidden_state");
  },
};

export const ClipVisionSpec: NetworkSpec<ClipVisionConfig> = {
  classes: ["CLIPVisionModelWithProjection"],
  parseConfig: clipVisionConfig,
  build(vb, c) {
    const out = clipVision(vb, floatInput(vb, "pixel_values", ["batch", c.channels, c.imageSize, c.imageSize]), c);
    floatOutput(out.imageEmbeds, "image_embeds");
    floatOutput(out.lastHiddenState, "last_hidden_state");
  },
};
