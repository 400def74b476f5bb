// Tokenizers of the two Kandinsky 2.1 text encoders: CLIP (prior) and XLM-R (decoder), ids exact to transformers'
// slow tokenizers.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadClipTokenizer } from "./clip.js";
import { readOptionalJson } from "../weights/config.js";
import type { TextTokenizer } from "./text-tokenizer.js";
import { loadXlmrTokenizer } from "./xlmr.js";

export type { Encoding, TextTokenizer } from "./text-tokenizer.js";
export { ClipTokenizer, loadClipTokenizer } from "./clip.js";
export { XlmrTokenizer, loadXlmrTokenizer } from "./xlmr.js";

/** The decoder pipelines pad and truncate prompts to 77 tokens whatever the tokenizer's model_max_length. */
export const DECODER_MAX_LENGTH = 77;

const CLASSES: Record<string, (dir: string) => TextTokenizer> = {
  CLIPTokenizer: loadClipTokenizer,
  CLIPTokenizerFast: loadClipTokenizer,
  XLMRobertaTokenizer: loadXlmrTokenizer,
  XLMRobertaTokenizerFast: loadXlmrTokenizer,
};

/** Loads the tokenizer of a folder; the kind comes from tokenizer_config.json `tokenizer_class`, else the files. */
export function loadTokenizer(dir: string): TextTokenizer {
  if (!existsSync(dir)) throw new Error(`tokenizer folder ${dir} does not exist`);
  const cls = readOptionalJson(join(dir, "tokenizer_config.json"))?.tokenizer_class;
  if (cls !== undefined) {
    const load = CLASSES[cls];
    if (!load) throw new Error(`${dir}: tokenizer_class ${cls} is not supported (CLIP or XLM-R tokenizers only)`);
    return load(dir);
  }
  const has = (f: string) => existsSync(join(dir, f));
  if (has("sentencepiece.bpe.model")) return loadXlmrTokenizer(dir);
  if (has("vocab.json") && has("merges.txt")) return loadClipTokenizer(dir);
  if (has("tokenizer.json")) {
    const type = readOptionalJson(join(dir, "tokenizer.json"))?.model?.type;
    if (type === "BPE") return loadClipTokenizer(dir);
    if (type === "Unigram") return loadXlmrTokenizer(dir);
  }
  throw new Error(
    `${dir}: no tokenizer found (expected vocab.json + merges.txt, sentencepiece.bpe.model or a BPE/Unigram tokenizer.json)`,
  );
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
