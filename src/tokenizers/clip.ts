// CLIP tokenizer (prior): transformers' slow CLIPTokenizer as it runs without ftfy, on tokenizers.js's byte-level
// BPE. The library does the byte mapping and the merges; the text normalisation and word split are done here because
// the reference's (BasicTokenizer, case-insensitive regex) differ from any tokenizers.js normaliser/pre-tokenizer.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { pyLStrip, pyRStrip, pySplit } from "./python-text.js";
import { readOptionalJson } from "../weights/config.js";
import { resolveSpecialTokens, type SpecialTokenDefaults } from "./special-tokens.js";
import { SlowTokenizer, resolveFraming, type SlowFraming } from "./text-tokenizer.js";

/** CLIPTokenizer's constructor defaults for the special tokens. */
export const CLIP_SPECIALS: SpecialTokenDefaults = {
  defaults: {
    bos_token: "<|startoftext|>",
    eos_token: "<|endoftext|>",
    unk_token: "<|endoftext|>",
    pad_token: "<|endoftext|>",
  },
  wrapped: {
    bos_token: { lstrip: false, rstrip: false },
    eos_token: { lstrip: false, rstrip: false },
    unk_token: { lstrip: false, rstrip: false },
  },
};

// CLIP's word pattern; the reference compiles it with IGNORECASE.
const WORDS = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/giu;
// Words the reference's BPE cache maps to themselves, i.e. straight to their vocabulary ids.
const CACHED_WORDS = new Set(["<|startoftext|>", "<|endoftext|>"]);
// merges.txt: the first line is a header; the reference reads at most this many merges after it (its literal).
const MAX_MERGES = 49152 - 256 - 2;

const OTHER = /^\p{C}$/u; // Python: unicodedata.category(ch).startswith("C")
const SPACE_SEPARATOR = /^\p{Zs}$/u;

function isCjkIdeograph(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/**
 * transformers' BasicTokenizer(do_lower_case=True, strip_accents=False, do_split_on_punc=False): drop control/format
 * characters and U+FFFD, whitespace to spaces, spaces around CJK ideographs, NFC, split on whitespace, lower-case.
 */
function basicNormalize(text: string): string {
  let cleaned = "";
  for (const ch of text) {
    if (ch === "\t" || ch === "\n" || ch === "\r" || SPACE_SEPARATOR.test(ch)) cleaned += " ";
    else if (ch === "\ufffd" || OTHER.test(ch)) continue;
    else cleaned += isCjkIdeograph(ch.codePointAt(0)!) ? ` ${ch} ` : ch;
  }
  return pySplit(cleaned.normalize("NFC"))
    .map((w) => w.toLowerCase())
    .join(" ");
}

export class ClipTokenizer extends SlowTokenizer {
  readonly kind = "clip" as const;

  constructor(private readonly bpe: Tokenizer, private readonly unkId: number, framing: SlowFraming) {
    super(framing);
  }

  protected textIds(text: string): number[] {
    const ids: number[] = [];
    for (const word of basicNormalize(text).match(WORDS) ?? []) {
      if (CACHED_WORDS.has(word)) ids.push(this.bpe.token_to_id(word) ?? this.unkId);
      else ids.push(...this.bpe.encode(word, { add_special_tokens: false }).ids);
    }
    return ids;
  }
}

interface BpeModel {
  type: "BPE";
  vocab: Record<string, number>;
  merges: [string, string][];
  unk_token: string;
  end_of_word_suffix: string;
}

function readMerges(path: string): [string, string][] {
  const lines = pyRStrip(pyLStrip(readFileSync(path, "utf8"))).split("\n").slice(1, 1 + MAX_MERGES);
  const merges: [string, string][] = [];
  lines.forEach((line, i) => {
    const pair = pySplit(line);
    if (pair.length === 0) return;
    if (pair.length !== 2) throw new Error(`${path} line ${i + 2}: expected two symbols, got "${line}"`);
    merges.push([pair[0], pair[1]]);
  });
  return merges;
}

/** The BPE model from vocab.json + merges.txt (the slow CLIPTokenizer never reads tokenizer.json). */
function bpeModel(dir: string, unkToken: string): BpeModel {
  const vocabFile = join(dir, "vocab.json");
  const mergesFile = join(dir, "merges.txt");
  for (const f of [vocabFile, mergesFile]) {
    if (!existsSync(f)) throw new Error(`CLIP tokenizer ${dir}: missing ${f}`);
  }
  const vocab = readOptionalJson(vocabFile);
  return { type: "BPE", vocab, merges: readMerges(mergesFile), unk_token: unkToken, end_of_word_suffix: "</w>" };
}

/** transformers' slow CLIPTokenizer from vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json. */
export function loadClipTokenizer(dir: string): ClipTokenizer {
  const config = readOptionalJson(join(dir, "tokenizer_config.json")) ?? {};
  const specials = resolveSpecialTokens(dir, config, CLIP_SPECIALS);
  const unk = specials.named.unk_token!.content;
  const bpe = new Tokenizer(
    {
      model: bpeModel(dir, unk),
      added_tokens: [],
      normalizer: null,
      pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, use_regex: false },
      post_processor: null,
      decoder: null,
    },
    {},
  );
  const unkId = bpe.token_to_id(unk);
  if (unkId === undefined) throw new Error(`CLIP tokenizer ${dir}: unk token "${unk}" is not in the vocabulary`);
  const framing = resolveFraming(
    specials,
    (content) => bpe.token_to_id(content),
    { start: "bos_token", end: "eos_token" },
    config.model_max_length,
    dir,
  );
  return new ClipTokenizer(bpe, unkId, framing);
}
