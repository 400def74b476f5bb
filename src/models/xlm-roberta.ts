// XLM-RoBERTa encoder (transformers' XLMRobertaModel without its pooler): the text encoder inside
// Kandinsky's MultilingualCLIP.
import type { Value } from "../runtime/graph.js";
import type { WeightView } from "../weights/weight-view.js";
import { ConfigError } from "../weights/config.js";
import { linear } from "../nn/linear.js";
import { layerNorm } from "../nn/norm.js";
import { attention } from "../nn/attention.js";
import { activation } from "../nn/activation.js";
import { paddingBias } from "../nn/mask.js";
import { MASKED } from "./clip.js";

export interface XlmRobertaConfig {
  vocab: number;
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  maxPositions: number;
  /** Token type vocabulary; only type 0 is used. */
  typeVocab: number;
  /** Padding id: its positions are masked and position ids count from it. */
  padTokenId: number;
  /** "gelu" is the erf form. */
  act: string;
  /** XLMRobertaConfig's default is 1e-12; real checkpoints say 1e-5. */
  eps: number;
}

/** XLMRobertaConfig.__init__'s defaults (transformers 4.32), by config key (dropouts left out). */
export const XLM_ROBERTA_DEFAULTS: Readonly<Record<string, unknown>> = {
  vocab_size: 30522,
  hidden_size: 768,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  intermediate_size: 3072,
  hidden_act: "gelu",
  max_position_embeddings: 512,
  type_vocab_size: 2,
  layer_norm_eps: 1e-12,
  pad_token_id: 1,
  position_embedding_type: "absolute",
};

/** The encoder's part of a config already filled with XLM_ROBERTA_DEFAULTS (or a subclass's defaults). */
export function xlmRobertaConfig(cfg: Record<string, any>, what = "XLM-RoBERTa"): XlmRobertaConfig {
  if (cfg.position_embedding_type !== "absolute") {
    throw new ConfigError(`${what} config: position_embedding_type ${JSON.stringify(cfg.position_embedding_type)} is not supported (only "absolute")`);
  }
  return {
    vocab: cfg.vocab_size,
    hidden: cfg.hidden_size,
    layers: cfg.num_hidden_layers,
    heads: cfg.num_attention_heads,
    intermediate: cfg.intermediate_size,
    maxPositions: cfg.max_position_embeddings,
    typeVocab: cfg.type_vocab_size,
    padTokenId: cfg.pad_token_id,
    act: cfg.hidden_act,
    eps: cfg.layer_norm_eps,
  };
}

/** word + position + token type 0, then LayerNorm. Position ids: cumsum(id != pad) * (id != pad) + pad. */
function embeddings(vb: WeightView, ids: Value, c: XlmRobertaConfig): Value {
  const notPad = ids.ne(c.padTokenId).cast("int64");
  const positions = notPad.cumsum(1).mul(notPad).add(c.padTokenId);
  const word = vb.get("word_embeddings.weight", [c.vocab, c.hidden]).gather(ids);
  const type0 = vb.get("token_type_embeddings.weight", [c.typeVocab, c.hidden]).gather(0);
  const pos = vb.get("position_embeddings.weight", [c.maxPositions, c.hidden]).gather(positions);
  return layerNorm(vb.pp("LayerNorm"), word.add(type0).add(pos), c.hidden, c.eps);
}

/** Post-LN BERT layer: x = LN(x + attn(x)); x = LN(x + ffn(x)). */
function layer(vb: WeightView, x: Value, bias: Value, c: XlmRobertaConfig): Value {
  const at = vb.pp("attention");
  const sa = at.pp("self");
  const q = linear(sa.pp("query"), x, c.hidden, c.hidden);
  const k = linear(sa.pp("key"), x, c.hidden, c.hidden);
  const v = linear(sa.pp("value"), x, c.hidden, c.hidden);
  const a = attention(q, k, v, { heads: c.heads, headDim: c.hidden / c.heads, bias }, vb.store.opts);
  x = layerNorm(at.pp("output").pp("LayerNorm"), x.add(linear(at.pp("output").pp("dense"), a, c.hidden, c.hidden)), c.hidden, c.eps);
  const h = activation(c.act, linear(vb.pp("intermediate").pp("dense"), x, c.hidden, c.intermediate));
  return layerNorm(vb.pp("output").pp("LayerNorm"), x.add(linear(vb.pp("output").pp("dense"), h, c.intermediate, c.hidden)), c.hidden, c.eps);
}

/** input_ids, attention_mask [B, L] (int64) → last_hidden_state [B, L, hidden]; padded keys are masked. */
export function xlmRoberta(vb: WeightView, ids: Value, mask: Value, c: XlmRobertaConfig): Value {
  const g = ids.graph;
  let x = embeddings(vb.pp("embeddings"), ids, c);
  // [B, 1, 1, L] expanded over the queries: MultiHeadAttention's bias needs its query axis.
  const keyBias = paddingBias(mask, x.elem, MASKED);
  const bias = keyBias.expand(g.concat([ids.shape(0, 1), g.constInt64([1]), ids.shape(1, 2), ids.shape(1, 2)], 0));
  for (let i = 0; i < c.layers; i++) x = layer(vb.pp("encoder").pp("layer").pp(i), x, bias, c);
  return x;
}
