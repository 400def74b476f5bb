// XLM-R tokenizer (decoder text encoder): transformers' slow XLMRobertaTokenizer, i.e. a sentencepiece unigram model
// with fairseq ids, on tokenizers.js's Unigram model (lattice Viterbi; it also fuses runs of unknown characters into
// one <unk>, as sentencepiece does). sentencepiece's normaliser is ours (see sentencepiece-normalizer.ts).
// tokenizers.js sums piece scores in float64 where sentencepiece uses float32: only a near-tie between two
// segmentations could come out differently.
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { readSentencePieceModel, type NormalizerSpec, type SentencePieceModel } from "./sentencepiece-model.js";
import { SentencePieceNormalizer } from "./sentencepiece-normalizer.js";
import { readOptionalJson } from "../weights/config.js";
import { resolveSpecialTokens, type SpecialTokenDefaults } from "./special-tokens.js";
import { SlowTokenizer, resolveFraming, type SlowFraming } from "./text-tokenizer.js";

/** XLMRobertaTokenizer's (and XLMRobertaTokenizerFast's) constructor defaults for the special tokens. */
export const XLMR_SPECIALS: SpecialTokenDefaults = {
  defaults: {
    bos_token: "<s>",
    eos_token: "</s>",
    sep_token: "</s>",
    cls_token: "<s>",
    unk_token: "<unk>",
    pad_token: "<pad>",
    mask_token: "<mask>",
  },
  wrapped: { mask_token: { lstrip: true, rstrip: false, normalized: false } },
};

// fairseq layout: these take ids 0-3, sentencepiece piece k >= 3 takes id k + 1 and <mask> the last id.
const FAIRSEQ_TOKENS = ["<s>", "<pad>", "</s>", "<unk>"];
const MASK = "<mask>";
const UNK_ID = 3;
// sentencepiece never matches control or unknown pieces inside text, but tokenizers.js puts every vocabulary entry
// in its lattice trie; giving those entries a leading lone surrogate, which decoded UTF-8 text never contains,
// keeps them out while preserving the ids.
const UNMATCHABLE = "\ud800";

/** Unigram vocabulary in fairseq id order (index = id) plus the sentencepiece normaliser settings. */
interface XlmrModel {
  vocab: [string, number][];
  normalizer: NormalizerSpec;
}

/** XLMRobertaConverter's vocabulary from a sentencepiece model, which must have XLM-R's layout. */
function xlmrModelFromSentencePiece(sp: SentencePieceModel, source: string): XlmrModel {
  const unsupported = (what: string) => new Error(`${source}: ${what} is not supported (XLM-R's layout expected)`);
  if (sp.modelType !== "UNIGRAM") throw unsupported(`model type ${sp.modelType}`);
  if (sp.byteFallback) throw unsupported("byte fallback");
  if (sp.treatWhitespaceAsSuffix) throw unsupported("treat_whitespace_as_suffix");
  const expected = ["UNKNOWN", "CONTROL", "CONTROL"];
  sp.pieces.forEach((p, i) => {
    const want = expected[i] ?? "NORMAL";
    if (p.type !== want) throw unsupported(`piece ${i} "${p.piece}" of type ${p.type} (expected ${want})`);
  });
  const vocab: [string, number][] = [
    ...FAIRSEQ_TOKENS.map((t): [string, number] => [t, 0]),
    ...sp.pieces.slice(3).map((p): [string, number] => [p.piece, p.score]),
    [MASK, 0],
  ];
  return { vocab, normalizer: sp.normalizer };
}

export class XlmrTokenizer extends SlowTokenizer {
  readonly kind = "xlmr" as const;

  constructor(private readonly unigram: Tokenizer, private readonly normalizer: SentencePieceNormalizer, framing: SlowFraming) {
    super(framing);
  }

  protected textIds(text: string): number[] {
    const normalized = this.normalizer.normalize(text);
    return normalized ? this.unigram.encode(normalized, { add_special_tokens: false }).ids : [];
  }
}

function createXlmrTokenizer(dir: string, model: XlmrModel): XlmrTokenizer {
  const config = readOptionalJson(join(dir, "tokenizer_config.json")) ?? {};
  const specials = resolveSpecialTokens(dir, config, XLMR_SPECIALS);
  const { vocab } = model;
  if (vocab.length < FAIRSEQ_TOKENS.length + 1 || vocab[vocab.length - 1][0] !== MASK ||
      FAIRSEQ_TOKENS.some((t, i) => vocab[i][0] !== t)) {
    throw new Error(`XLM-R tokenizer ${dir}: vocabulary is not in the fairseq layout (<s> <pad> </s> <unk> ... <mask>)`);
  }
  const reserved = new Set([...FAIRSEQ_TOKENS.keys(), vocab.length - 1]);
  const unigram = new Tokenizer(
    {
      model: {
        type: "Unigram",
        unk_id: UNK_ID,
        vocab: vocab.map(([piece, score], id) => [reserved.has(id) ? UNMATCHABLE + piece : piece, score]),
      },
      added_tokens: [],
      normalizer: null,
      pre_tokenizer: null,
      post_processor: null,
      decoder: null,
    },
    {},
  );
  // `_convert_token_to_id`: the fairseq names, else the piece's id.
  const ids = new Map(vocab.map(([piece], id) => [piece, id]));
  const framing = resolveFraming(
    specials,
    (content) => ids.get(content),
    { start: "cls_token", end: "sep_token" },
    config.model_max_length,
    dir,
  );
  return new XlmrTokenizer(unigram, new SentencePieceNormalizer(model.normalizer), framing);
}

/** transformers' slow XLMRobertaTokenizer: sentencepiece.bpe.model (it never reads tokenizer.json). */
export function loadXlmrTokenizer(dir: string): XlmrTokenizer {
  const spFile = join(dir, "sentencepiece.bpe.model");
  return createXlmrTokenizer(dir, xlmrModelFromSentencePiece(readSentencePieceModel(spFile), spFile));
}
