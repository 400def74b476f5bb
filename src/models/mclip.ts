// Kandinsky 2.1's MultilingualCLIP (diffusers pipelines/kandinsky/text_encoder.py): XLM-RoBERTa, then a linear
// map of the mask-weighted mean of its last hidden states into the CLIP text space. The decoder's text encoder.
import type { Value } from "../runtime/graph.js";
import type { WeightView } from "../weights/weight-view.js";
import { ConfigError, withDefaults } from "../weights/config.js";
import { linear } from "../nn/linear.js";
import { floatOutput, type NetworkSpec } from "./network.js";
import { XLM_ROBERTA_DEFAULTS, xlmRoberta, xlmRobertaConfig, type XlmRobertaConfig } from "./xlm-roberta.js";

export interface MClipConfig {
  encoder: XlmRobertaConfig;
  /** Projection input (= encoder hidden size): `transformerDimensions`, else the constructor's `transformerDimSize`. */
  transformerDimensions: number;
  /** Projection output: `numDims`, else `imageDimSize`. */
  numDims: number;
}

/** MCLIPConfig.__init__'s defaults (diffusers' pipelines/kandinsky/text_encoder.py) on top of XLMRobertaConfig's. */
export const MCLIP_DEFAULTS: Readonly<Record<string, unknown>> = {
  ...XLM_ROBERTA_DEFAULTS,
  transformerDimSize: 1024,
  imageDimSize: 768,
};

export function mclipConfig(raw: Record<string, any>): MClipConfig {
  const what = "MultilingualCLIP";
  const cfg = withDefaults(raw, MCLIP_DEFAULTS);
  const encoder = xlmRobertaConfig(cfg, what);
  // MCLIPConfig copies transformerDimSize/imageDimSize, then the saved transformerDimensions/numDims override them.
  const transformerDimensions = cfg.transformerDimensions ?? cfg.transformerDimSize;
  const numDims = cfg.numDims ?? cfg.imageDimSize;
  if (transformerDimensions !== encoder.hidden) {
    throw new ConfigError(`${what} config: transformerDimensions ${transformerDimensions} differs from hidden_size ${encoder.hidden}`);
  }
  return { encoder, transformerDimensions, numDims };
}

/** → text_embeds [B, numDims] = Linear(sum(h * mask) / sum(mask)), last_hidden_state [B, L, hidden]. */
export function mclip(vb: WeightView, ids: Value, mask: Value, c: MClipConfig) {
  const h = xlmRoberta(vb.pp("transformer"), ids, mask, c.encoder);
  const m = mask.cast(h.elem);
  const summed = h.mul(m.unsqueeze([2])).reduceSum([1], false);
  const count = m.reduceSum([1], true);
  const textEmbeds = linear(vb.pp("LinearTransformation"), summed.div(count), c.transformerDimensions, c.numDims);
  return { textEmbeds, lastHiddenState: h };
}

/** input_ids, attention_mask (int64 [B, L]) → text_embeds [B, numDims], last_hidden_state [B, L, hidden] (float32). */
export const MClipSpec: NetworkSpec<MClipConfig> = {
  classes: ["MultilingualCLIP"],
  parseConfig: mclipConfig,
  build(vb, c) {
    const g = vb.graph;
    const ids = g.input("input_ids", "int64", ["batch", "tokens"]);
    const mask = g.input("attention_mask", "int64", ["batch", "tokens"]);
    const out = mclip(vb, ids, mask, c);
    floatOutput(out.textEmbeds, "text_embeds");
    floatOutput(out.lastHiddenState, "last_hidden_state");
  },
};
