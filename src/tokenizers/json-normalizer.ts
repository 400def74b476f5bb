// The normalizers of a tokenizer.json, run as Hugging Face tokenizers (0.22) runs them. tokenizers.js has the same
// components but deviates from the reference in each one we need: its Precompiled ignores the charsmap (NFKC plus a
// fixed character list instead), its Strip trims JavaScript whitespace rather than Unicode White_Space. So they
// are run here on a NormalizedText; anything else a file declares is an error naming it.
import { Charsmap } from "./charsmap.js";
import { NormalizedText, type Change } from "./normalized-text.js";

export type Normalize = (text: NormalizedText) => void;

const SUPPORTED = ["Sequence", "Precompiled", "Replace", "Strip", "Prepend", "Lowercase", "NFC", "NFD", "NFKC", "NFKD"];

/** The normalizer a tokenizer.json declares (`null`: none); `where` names the file in errors. */
export function buildNormalizer(config: any, where: string): Normalize | undefined {
  if (config === null || config === undefined) return undefined;
  const fail = (what: string) => new Error(`${where}: normalizer ${config.type ?? JSON.stringify(config)}: ${what}`);
  switch (config.type) {
    case "Sequence": {
      if (!Array.isArray(config.normalizers)) throw fail("expected a `normalizers` list");
      const steps = config.normalizers.map((n: any) => buildNormalizer(n, where)).filter(Boolean) as Normalize[];
      return (t) => steps.forEach((step) => step(t));
    }
    case "Precompiled":
      if (typeof config.precompiled_charsmap !== "string") throw fail("expected a base64 `precompiled_charsmap`");
      return precompiled(new Charsmap(Buffer.from(config.precompiled_charsmap, "base64"), `${where} (Precompiled)`));
    case "Replace": {
      const pattern = replacePattern(config.pattern, fail);
      if (typeof config.content !== "string") throw fail("expected a string `content`");
      return (t) => t.replace(pattern, config.content);
    }
    case "Strip":
      return (t) => t.strip(Boolean(config.strip_left), Boolean(config.strip_right));
    case "Prepend":
      if (typeof config.prepend !== "string") throw fail("expected a string `prepend`");
      return (t) => t.prepend(config.prepend);
    case "Lowercase":
      return (t) => t.lowercase();
    case "NFC":
    case "NFD":
    case "NFKC":
    case "NFKD":
      return (t) => t.replaceUntracked(t.text.normalize(config.type));
    default:
      throw new Error(
        `${where}: normalizer type ${JSON.stringify(config.type)} is not supported (supported: ${SUPPORTED.join(", ")})`,
      );
  }
}

const UTF8 = new TextEncoder();
const FROM_UTF8 = new TextDecoder();
const GRAPHEMES = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/**
 * tokenizers' `Precompiled`: per extended grapheme cluster, a cluster shorter than 6 UTF-8 bytes is replaced as a
 * whole by the *shortest* charsmap rule that prefixes it; otherwise each character by its own rule. (sentencepiece
 * itself applies the longest rule at each position: the two differ, e.g. on a ligature followed by a combining mark.)
 */
function precompiled(charsmap: Charsmap): Normalize {
  return (t) => {
    const changes: Change[] = [];
    let modified = false;
    for (const { segment } of GRAPHEMES.segment(t.text)) {
      const whole = UTF8.encode(segment);
      const rule = whole.length < 6 ? charsmap.shortest(whole) : undefined;
      if (rule) {
        modified = true;
        replaceChars(changes, segment, FROM_UTF8.decode(rule));
        continue;
      }
      for (const c of segment) {
        const own = charsmap.shortest(UTF8.encode(c));
        if (own) {
          modified = true;
          replaceChars(changes, c, FROM_UTF8.decode(own));
        } else {
          changes.push([c, 0]);
        }
      }
    }
    if (modified) t.transform(changes, 0);
  };
}

/** The reference's bookkeeping for replacing `old` by `replacement` (a removal is charged to the previous entry). */
function replaceChars(changes: Change[], old: string, replacement: string): void {
  const added = Array.from(replacement);
  const diff = added.length - Array.from(old).length;
  for (const c of added) changes.push([c, 0]);
  if (diff > 0) for (let k = changes.length - diff; k < changes.length; k++) changes[k][1] = 1;
  else if (diff < 0 && changes.length > 0) changes[changes.length - 1][1] += diff;
}

const SYNTAX = /[\\^$.|?*+()[\]{}]/g;
const escape = (s: string) => s.replace(SYNTAX, "\\$&");

/**
 * A Replace pattern as a JavaScript regex. `String` patterns are literal. `Regex` patterns are Oniguruma regexes in
 * the reference; the subset whose meaning is the same in both is accepted: literal and escaped characters,
 * quantifiers (`*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}`) and `\s` / `\S` (Unicode White_Space in both, once
 * translated). Anything else, or a pattern that matches the empty string, is an error.
 */
function replacePattern(pattern: any, fail: (what: string) => Error): RegExp {
  let source: string;
  if (typeof pattern?.String === "string") {
    if (pattern.String === "") throw fail("an empty String pattern is not supported");
    source = escape(pattern.String);
  } else if (typeof pattern?.Regex === "string") {
    const token = /\\s|\\S|\\[^A-Za-z0-9]|[*+?]|\{\d+(?:,\d*)?\}|[^\\^$.|?*+()[\]{}]/gy;
    const parts = pattern.Regex.match(token) ?? [];
    if (parts.join("") !== pattern.Regex) throw fail(`Regex ${JSON.stringify(pattern.Regex)} uses syntax that is not supported`);
    const translate = (p: string) =>
      p === "\\s" ? "\\p{White_Space}" : p === "\\S" ? "\\P{White_Space}" : p.startsWith("\\") ? escape(p.slice(1)) : p;
    source = parts.map(translate).join("");
  } else {
    throw fail("expected a pattern {String} or {Regex}");
  }
  let regex: RegExp;
  try {
    regex = new RegExp(source, "gu");
  } catch (e) {
    throw fail(`pattern ${JSON.stringify(pattern)} is not supported (${(e as Error).message})`);
  }
  if (new RegExp(source, "u").test("")) throw fail(`pattern ${JSON.stringify(pattern)} matches the empty string`);
  return regex;
}
