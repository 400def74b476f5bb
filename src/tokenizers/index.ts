// Tokenizers of the two Kandinsky 2.1 text encoders, CLIP (prior) and XLM-R (decoder), loaded as the reference
// loads them: the class comes from the pipeline's model_index.json, and each class reads the files transformers'
// class reads. Ids are exact to transformers' slow tokenizers, or to Hugging Face tokenizers for a fast one.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { CLIP_SPECIALS, loadClipTokenizer } from "./clip.js";
import { readModelIndex, readOptionalJson } from "../weights/config.js";
import type { SpecialTokenDefaults } from "./special-tokens.js";
import type { TextTokenizer } from "./text-tokenizer.js";
import { loadTokenizerJson } from "./tokenizer-json.js";
import { XLMR_SPECIALS, loadXlmrTokenizer } from "./xlmr.js";

export type { Encoding, TextTokenizer } from "./text-tokenizer.js";
export { ClipTokenizer, loadClipTokenizer } from "./clip.js";
export { XlmrTokenizer, loadXlmrTokenizer } from "./xlmr.js";
export { JsonTokenizer, loadTokenizerJson } from "./tokenizer-json.js";

/** diffusers' Kandinsky{,Img2Img,Inpaint}Pipeline._encode_prompt passes `max_length=77` as a literal, whatever the
 * tokenizer's model_max_length. */
export const DECODER_MAX_LENGTH = 77;

/**
 * A fast class builds its tokenizer from tokenizer.json. Without one, transformers converts the slow files; we run
 * the slow tokenizer itself, which gives the same ids except on a few edge characters (it is also what the tiny
 * reference sets used, whose model_index names XLMRobertaTokenizerFast next to a lone sentencepiece model).
 */
function fast(kind: "clip" | "xlmr", specials: SpecialTokenDefaults, slow: (dir: string) => TextTokenizer) {
  return (dir: string) => (existsSync(join(dir, "tokenizer.json")) ? loadTokenizerJson(dir, kind, specials) : slow(dir));
}

/** The transformers tokenizer classes we run, by class name. */
const CLASSES: Record<string, (dir: string) => TextTokenizer> = {
  CLIPTokenizer: loadClipTokenizer,
  CLIPTokenizerFast: fast("clip", CLIP_SPECIALS, loadClipTokenizer),
  XLMRobertaTokenizer: loadXlmrTokenizer,
  XLMRobertaTokenizerFast: fast("xlmr", XLMR_SPECIALS, loadXlmrTokenizer),
};

/**
 * Loads the tokenizer of a folder as `className` (a transformers class) does. Without a class: tokenizer_config.json
 * `tokenizer_class`, else what the files are (tokenizer.json, sentencepiece.bpe.model, vocab.json + merges.txt).
 */
export function loadTokenizer(dir: string, className?: string): TextTokenizer {
  if (!existsSync(dir)) throw new Error(`tokenizer folder ${dir} does not exist`);
  const cls = className ?? readOptionalJson(join(dir, "tokenizer_config.json"))?.tokenizer_class;
  if (cls !== undefined) {
    const load = CLASSES[cls];
    if (!load) throw new Error(`${dir}: tokenizer class ${cls} is not supported (${Object.keys(CLASSES).join(", ")})`);
    return load(dir);
  }
  const has = (f: string) => existsSync(join(dir, f));
  if (has("tokenizer.json")) {
    const type = readOptionalJson(join(dir, "tokenizer.json"))?.model?.type;
    return loadTokenizerJson(dir, type === "BPE" ? "clip" : "xlmr", { defaults: {}, wrapped: {} });
  }
  if (has("sentencepiece.bpe.model")) return loadXlmrTokenizer(dir);
  if (has("vocab.json") && has("merges.txt")) return loadClipTokenizer(dir);
  throw new Error(
    `${dir}: no tokenizer found (expected vocab.json + merges.txt, sentencepiece.bpe.model or tokenizer.json)`,
  );
}

/** The `tokenizer` component of a diffusers pipeline folder, as the class its model_index.json names. */
export function loadPipelineTokenizer(repoDir: string): TextTokenizer {
  const index = existsSync(join(repoDir, "model_index.json")) ? readModelIndex(repoDir) : undefined;
  return loadTokenizer(join(repoDir, "tokenizer"), index?.components.tokenizer?.className);
}

/** The tokenizer's model_max_length, which the prior pipeline pads and truncates prompts to. */
export function modelMaxLength(tokenizer: TextTokenizer): number {
  const n = tokenizer.modelMaxLength;
  if (n === undefined) {
    throw new Error(`${tokenizer.source}: tokenizer_config.json has no model_max_length (prompts are padded to it)`);
  }
  if (!Number.isSafeInteger(n) || n < 2) throw new Error(`${tokenizer.source}: model_max_length ${n} is not usable`);
  return n;
}

export interface TokenBatch {
  /** [texts, maxLength] */
  shape: [number, number];
  inputIds: Int32Array;
  attentionMask: Int32Array;
  untruncatedLengths: number[];
}

/** Encodes texts into row-major [n, maxLength] arrays. */
export function tokenizeBatch(tokenizer: TextTokenizer, texts: string[], maxLength: number): TokenBatch {
  const inputIds = new Int32Array(texts.length * maxLength);
  const attentionMask = new Int32Array(texts.length * maxLength);
  const untruncatedLengths = texts.map((text, i) => {
    const e = tokenizer.encode(text, { maxLength });
    inputIds.set(e.inputIds, i * maxLength);
    attentionMask.set(e.attentionMask, i * maxLength);
    return e.untruncatedLength;
  });
  return { shape: [texts.length, maxLength], inputIds, attentionMask, untruncatedLengths };
}

/** int64 copy of ids or a mask, for ONNX inputs. */
export function toInt64(values: Int32Array): BigInt64Array {
  return BigInt64Array.from(values, (v) => BigInt(v));
}
