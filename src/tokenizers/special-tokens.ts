// Special tokens as transformers' slow tokenizers (4.32) resolve and split them.
import { join } from "node:path";
import { readOptionalJson } from "../weights/config.js";
import { pyLStrip, pyRStrip } from "./python-text.js";

/** A special token: an `AddedToken` (with its own whitespace flags) or a plain string. */
export interface SpecialToken {
  content: string;
  addedToken: boolean;
  lstrip: boolean;
  rstrip: boolean;
  /** AddedToken flags that only fast tokenizers use; absent: the AddedToken default. */
  normalized?: boolean;
  singleWord?: boolean;
}

const SPECIAL_ATTRIBUTES = [
  "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token",
] as const;
export type SpecialAttribute = (typeof SPECIAL_ATTRIBUTES)[number];

/** Every special token, named ones in attribute order then the additional ones (`all_special_tokens_extended`). */
export function allSpecialTokens(specials: SpecialTokens): SpecialToken[] {
  return [...SPECIAL_ATTRIBUTES.flatMap((a) => specials.named[a] ?? []), ...specials.additional];
}

export interface SpecialTokens {
  named: Partial<Record<SpecialAttribute, SpecialToken>>;
  additional: SpecialToken[];
}

/** What a tokenizer class does to its special-token arguments. */
export interface SpecialTokenDefaults {
  /** Constructor defaults. */
  defaults: Partial<Record<SpecialAttribute, string>>;
  /** Arguments the constructor turns into an AddedToken (with these flags) when given as a plain string. */
  wrapped: Partial<Record<SpecialAttribute, { lstrip: boolean; rstrip: boolean; normalized?: boolean }>>;
}

function parseToken(value: unknown, where: string): SpecialToken | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return { content: value, addedToken: false, lstrip: false, rstrip: false };
  if (typeof value === "object" && typeof (value as any).content === "string") {
    const v = value as { content: string; lstrip?: boolean; rstrip?: boolean; normalized?: boolean; single_word?: boolean };
    return {
      content: v.content, addedToken: true, lstrip: Boolean(v.lstrip), rstrip: Boolean(v.rstrip),
      normalized: v.normalized, singleWord: v.single_word,
    };
  }
  throw new Error(`${where}: a special token must be a string or an object with "content"`);
}

function parseList(value: unknown, where: string): SpecialToken[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw new Error(`${where}: additional_special_tokens must be a list`);
  return value.map((v, i) => parseToken(v, `${where}[${i}]`)!);
}

/**
 * `from_pretrained` order: tokenizer_config.json values (else the class defaults) go through the class constructor,
 * then every entry of special_tokens_map.json is set on top.
 */
export function resolveSpecialTokens(dir: string, config: Record<string, unknown>, cls: SpecialTokenDefaults): SpecialTokens {
  const configFile = join(dir, "tokenizer_config.json");
  const named: SpecialTokens["named"] = {};
  for (const attr of SPECIAL_ATTRIBUTES) {
    let tok = parseToken(config[attr] ?? cls.defaults[attr], `${configFile} ${attr}`);
    const wrap = cls.wrapped[attr];
    if (tok && wrap && !tok.addedToken) tok = { ...tok, addedToken: true, ...wrap };
    if (tok) named[attr] = tok;
  }
  let additional = parseList(config.additional_special_tokens, `${configFile} additional_special_tokens`) ?? [];

  const mapFile = join(dir, "special_tokens_map.json");
  const map = readOptionalJson(mapFile) ?? {};
  for (const attr of SPECIAL_ATTRIBUTES) {
    const tok = parseToken(map[attr], `${mapFile} ${attr}`);
    if (tok) named[attr] = tok;
  }
  additional = parseList(map.additional_special_tokens, `${mapFile} additional_special_tokens`) ?? additional;
  return { named, additional };
}

/**
 * The strings kept whole when splitting text, one entry per content. As in `tokenize`, a content's whitespace
 * behaviour comes from its last AddedToken (attribute order); a content only ever given as a plain string strips
 * the whitespace on both sides.
 */
export function splitTokens(specials: SpecialTokens): SpecialToken[] {
  const byContent = new Map<string, SpecialToken>();
  for (const tok of allSpecialTokens(specials)) {
    const seen = byContent.get(tok.content);
    if (!seen || tok.addedToken || !seen.addedToken) byContent.set(tok.content, tok);
  }
  return [...byContent.values()];
}

export type Segment = { text: string } | { special: string };

/**
 * transformers 4.32 `PreTrainedTokenizer.tokenize` before `_tokenize`: split at the leftmost-longest occurrences of
 * the special contents, strip the neighbours' whitespace, drop empty pieces.
 */
export function splitOnSpecialTokens(text: string, tokens: SpecialToken[]): Segment[] {
  const pieces: string[] = [];
  const special: (SpecialToken | undefined)[] = [];
  let start = 0;
  for (let i = 0; i < text.length; ) {
    let match: SpecialToken | undefined;
    for (const t of tokens) {
      if (t.content.length > (match?.content.length ?? 0) && text.startsWith(t.content, i)) match = t;
    }
    if (!match) {
      i++;
      continue;
    }
    if (i > start) {
      pieces.push(text.slice(start, i));
      special.push(undefined);
    }
    pieces.push(match.content);
    special.push(match);
    i += match.content.length;
    start = i;
  }
  if (start < text.length) {
    pieces.push(text.slice(start));
    special.push(undefined);
  }

  for (let i = 0; i < pieces.length; i++) {
    const tok = special[i];
    if (!tok) continue;
    const stripRight = !tok.addedToken || tok.rstrip;
    const stripLeft = !tok.addedToken || tok.lstrip;
    if (stripRight && i + 1 < pieces.length && pieces[i + 1]) pieces[i + 1] = pyLStrip(pieces[i + 1]);
    if (stripLeft && i > 0 && pieces[i - 1]) pieces[i - 1] = pyRStrip(pieces[i - 1]);
  }
  const out: Segment[] = [];
  pieces.forEach((p, i) => {
    // A special whose own content got stripped is no longer one: the reference then tokenizes it as text.
    if (p) out.push(p === special[i]?.content ? { special: p } : { text: p });
  });
  return out;
}
