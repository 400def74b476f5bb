// A fast tokenizer (transformers' PreTrainedTokenizerFast) from its tokenizer.json, run with the semantics of
// Hugging Face tokenizers 0.22: added tokens split out of the raw text, the rest normalised, added tokens matched
// again in the normalised text, pre-tokenized, each piece through the model, then the post-processor's template.
// Every component the file declares is checked against what is implemented before anything runs; the decoder is
// not read (we never decode), nor are `truncation` / `padding`, which the pipelines' calls override.
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { readJson, readOptionalJson } from "../weights/config.js";
import { buildNormalizer, type Normalize } from "./json-normalizer.js";
import { buildPreTokenizer, type PreTokenize } from "./json-pre-tokenizer.js";
import { NormalizedText, WHITESPACE } from "./normalized-text.js";
import { allSpecialTokens, resolveSpecialTokens, type SpecialTokenDefaults } from "./special-tokens.js";
import { FramedTokenizer, type Framing } from "./text-tokenizer.js";

interface AddedToken {
  id: number;
  content: string;
  singleWord: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

type Piece = { text: NormalizedText } | { id: number };

// A Unicode word character (Rust regex \w) at the end / start of a string, and whitespace runs there (\s).
const ENDS_WITH_WORD = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]$/u;
const STARTS_WITH_WORD = /^[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]/u;

/** tokenizers' AddedVocabulary: leftmost-longest matches of the added tokens, with their whitespace flags. */
class AddedVocabulary {
  private readonly raw: { chars: string[]; token: AddedToken }[];
  private readonly normalized: { chars: string[]; token: AddedToken }[];

  constructor(tokens: AddedToken[], normalize: Normalize | undefined) {
    const pattern = (t: AddedToken, text: string) => ({ chars: Array.from(text), token: t });
    this.raw = tokens.filter((t) => !t.normalized).map((t) => pattern(t, t.content));
    this.normalized = tokens.filter((t) => t.normalized).map((t) => {
      const n = NormalizedText.from(t.content);
      normalize?.(n);
      return pattern(t, n.text);
    }).filter((p) => p.chars.length > 0);
  }

  /** Splits the text pieces at the raw (first pass) or normalised (second pass) added tokens. */
  split(pieces: Piece[], pass: "raw" | "normalized"): Piece[] {
    const patterns = pass === "raw" ? this.raw : this.normalized;
    return pieces.flatMap((p) => ("id" in p ? [p] : this.splitText(p.text, patterns)));
  }

  private splitText(text: NormalizedText, patterns: { chars: string[]; token: AddedToken }[]): Piece[] {
    const chars = text.chars;
    const str = (from: number, to: number) => chars.slice(from, to).join("");
    const out: Piece[] = [];
    const push = (from: number, to: number, id?: number) => {
      if (to <= from) return;
      out.push(id === undefined ? { text: text.slice(from, to) } : { id });
    };
    let startOffset = 0;
    for (let i = 0; i < chars.length; ) {
      let best: { chars: string[]; token: AddedToken } | undefined;
      for (const p of patterns) {
        if (p.chars.length > (best?.chars.length ?? 0) && p.chars.every((c, k) => chars[i + k] === c)) best = p;
      }
      if (!best) {
        i++;
        continue;
      }
      let [start, stop] = [i, i + best.chars.length];
      i = stop;
      const t = best.token;
      if (t.singleWord) {
        const startSpace = start === 0 || !ENDS_WITH_WORD.test(str(0, start));
        const stopSpace = stop === chars.length || !STARTS_WITH_WORD.test(str(stop, chars.length));
        if (!startSpace || !stopSpace) continue;
      }
      if (t.lstrip) {
        let s = start;
        while (s > 0 && WHITESPACE.test(chars[s - 1])) s--;
        start = Math.max(s, startOffset);
      }
      if (t.rstrip) while (stop < chars.length && WHITESPACE.test(chars[stop])) stop++;
      push(startOffset, start);
      push(start, stop, t.id);
      startOffset = stop;
    }
    push(startOffset, chars.length);
    return out;
  }
}

/**
 * The Unigram model on tokenizers.js's lattice (the same Viterbi, float64 scores, ties to the earlier start). Two
 * fix-ups make it the reference's: tokenizers.js scores a literal match of the unk piece as an unknown character,
 * so its unknown id is a sentinel entry no text can match; and the reference fuses every run of unk-id nodes of a
 * piece (a literal unk piece included) into one unk.
 */
class UnigramModel {
  private readonly lattice: Tokenizer;
  private readonly sentinel: number;

  constructor(vocab: [string, number][], private readonly unkId: number) {
    this.sentinel = vocab.length;
    // A lone surrogate: the model only ever sees well-formed text. Same score as the unk entry: the minimum score
    // (hence the unknown-character score) is unchanged.
    const entries = [...vocab, ["\ud800<unk>", vocab[unkId][1]] as [string, number]];
    this.lattice = new Tokenizer(
      {
        model: { type: "Unigram", unk_id: this.sentinel, vocab: entries },
        added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null,
      },
      {},
    );
  }

  tokenize(piece: string): number[] {
    const ids: number[] = [];
    for (const id of this.lattice.encode(piece, { add_special_tokens: false }).ids) {
      const own = id === this.sentinel ? this.unkId : id;
      if (own !== this.unkId || ids[ids.length - 1] !== this.unkId) ids.push(own);
    }
    return ids;
  }
}

export class JsonTokenizer extends FramedTokenizer {
  constructor(
    readonly kind: "clip" | "xlmr",
    framing: Framing,
    private readonly added: AddedVocabulary,
    private readonly normalize: Normalize | undefined,
    private readonly preTokenize: PreTokenize | undefined,
    private readonly model: UnigramModel,
  ) {
    super(framing);
  }

  protected contentIds(text: string): number[] {
    if (!(text as any).isWellFormed()) throw new Error(`tokenizer ${this.source}: the text holds a lone UTF-16 surrogate`);
    let pieces = this.added.split([{ text: NormalizedText.from(text) }], "raw");
    pieces = pieces.flatMap((p): Piece[] => {
      if ("id" in p) return [p];
      this.normalize?.(p.text);
      return p.text.length ? [p] : [];
    });
    return this.added.split(pieces, "normalized").flatMap((p) => {
      if ("id" in p) return [p.id];
      const words = this.preTokenize ? this.preTokenize([p.text]) : [p.text];
      return words.flatMap((w) => this.model.tokenize(w.text));
    });
  }
}

function parseModel(m: any, file: string): { vocab: [string, number][]; unkId: number } {
  if (m?.type !== "Unigram") {
    throw new Error(`${file}: model type ${JSON.stringify(m?.type)} is not supported (supported: Unigram)`);
  }
  const vocab = m.vocab;
  if (!Array.isArray(vocab) || vocab.some((e: any) => typeof e?.[0] !== "string" || typeof e?.[1] !== "number")) {
    throw new Error(`${file}: the Unigram vocab must be a list of [piece, score]`);
  }
  if (m.byte_fallback) throw new Error(`${file}: Unigram byte_fallback is not supported`);
  if (!Number.isInteger(m.unk_id) || m.unk_id < 0 || m.unk_id >= vocab.length) {
    throw new Error(`${file}: the Unigram model needs an unk_id inside its vocab (got ${JSON.stringify(m.unk_id)})`);
  }
  return { vocab, unkId: m.unk_id };
}

/** The ids the post-processor puts before and after a single sequence. */
function parsePostProcessor(p: any, file: string): { prefix: number[]; suffix: number[] } {
  if (p === null || p === undefined) return { prefix: [], suffix: [] };
  const fail = (what: string) => new Error(`${file}: post-processor ${p.type}: ${what}`);
  switch (p.type) {
    case "TemplateProcessing": {
      if (!Array.isArray(p.single)) throw fail("expected a `single` template");
      const sequences = p.single.filter((item: any) => "Sequence" in item);
      if (sequences.length !== 1 || sequences[0].Sequence.id !== "A") throw fail("the single template must hold $A once");
      const ids = (item: any): number[] => {
        const ids = p.special_tokens?.[item.SpecialToken.id]?.ids;
        if (!Array.isArray(ids)) throw fail(`special token ${JSON.stringify(item.SpecialToken.id)} has no ids`);
        return ids;
      };
      const at = p.single.indexOf(sequences[0]);
      return { prefix: p.single.slice(0, at).flatMap(ids), suffix: p.single.slice(at + 1).flatMap(ids) };
    }
    case "RobertaProcessing":
    case "BertProcessing":
      if (!Number.isInteger(p.cls?.[1]) || !Number.isInteger(p.sep?.[1])) throw fail("expected `cls` and `sep` as [token, id]");
      return { prefix: [p.cls[1]], suffix: [p.sep[1]] };
    default:
      throw new Error(
        `${file}: post-processor type ${JSON.stringify(p.type)} is not supported ` +
          "(supported: TemplateProcessing, RobertaProcessing, BertProcessing)",
      );
  }
}

const sameToken = (a: AddedToken, b: any) =>
  a.content === b.content && a.singleWord === Boolean(b.single_word) && a.lstrip === Boolean(b.lstrip) &&
  a.rstrip === Boolean(b.rstrip) && a.normalized === Boolean(b.normalized ?? !b.special) && a.special === Boolean(b.special);

/**
 * `PreTrainedTokenizerFast.from_pretrained` on a folder with tokenizer.json: the file's tokenizer, plus the special
 * tokens of tokenizer_config.json / special_tokens_map.json (else the class defaults) that the file lacks, added
 * as special tokens. The pad id and model_max_length come from the configs.
 */
export function loadTokenizerJson(dir: string, kind: "clip" | "xlmr", classSpecials: SpecialTokenDefaults): JsonTokenizer {
  const file = join(dir, "tokenizer.json");
  const json = readJson<any>(file);
  if (json.version !== undefined && json.version !== "1.0") throw new Error(`${file}: unknown tokenizer version ${json.version}`);
  const { vocab, unkId } = parseModel(json.model, file);
  const normalize = buildNormalizer(json.normalizer, file);
  const preTokenize = buildPreTokenizer(json.pre_tokenizer, file);
  const { prefix, suffix } = parsePostProcessor(json.post_processor, file);

  const vocabIds = new Map(vocab.map(([piece], id) => [piece, id]));
  const tokens = new Map<string, AddedToken>();
  let nextId = vocab.length;
  const add = (t: Omit<AddedToken, "id">) => {
    if (!t.content || tokens.has(t.content)) return;
    tokens.set(t.content, { ...t, id: vocabIds.get(t.content) ?? nextId++ });
  };
  for (const t of json.added_tokens ?? []) {
    if (typeof t?.content !== "string") throw new Error(`${file}: an added token has no content`);
    const special = Boolean(t.special);
    add({
      content: t.content, singleWord: Boolean(t.single_word), lstrip: Boolean(t.lstrip), rstrip: Boolean(t.rstrip),
      normalized: Boolean(t.normalized ?? !special), special,
    });
  }

  const configFile = join(dir, "tokenizer_config.json");
  const config = readOptionalJson(configFile) ?? {};
  for (const [id, t] of Object.entries<any>(config.added_tokens_decoder ?? {})) {
    const own = [...tokens.values()].find((x) => x.id === Number(id));
    if (!own || !sameToken(own, t)) {
      throw new Error(`${configFile}: added_tokens_decoder ${id} differs from ${file}'s added tokens (not supported)`);
    }
  }
  const specials = resolveSpecialTokens(dir, config, classSpecials);
  for (const s of allSpecialTokens(specials)) {
    if (tokens.has(s.content)) continue;
    if (!vocabIds.has(s.content)) throw new Error(`tokenizer ${dir}: special token "${s.content}" is not in the vocabulary`);
    add({
      content: s.content, singleWord: Boolean(s.singleWord), lstrip: s.lstrip, rstrip: s.rstrip,
      normalized: s.normalized ?? false, special: true,
    });
  }

  const idOf = (content: string | undefined) =>
    content === undefined ? undefined : tokens.get(content)?.id ?? vocabIds.get(content);
  // transformers: an unknown pad token's id is the unk token's.
  const padId = idOf(specials.named.pad_token?.content) ?? idOf(specials.named.unk_token?.content);
  if (padId === undefined) throw new Error(`tokenizer ${dir}: no pad token in the vocabulary`);
  const framing = { prefix, suffix, padId, modelMaxLength: config.model_max_length, source: dir };
  return new JsonTokenizer(
    kind, framing, new AddedVocabulary([...tokens.values()], normalize), normalize, preTokenize, new UnigramModel(vocab, unkId),
  );
}
