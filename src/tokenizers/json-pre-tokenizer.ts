// The pre-tokenizers of a tokenizer.json, as Hugging Face tokenizers (0.22) runs them. tokenizers.js deviates on
// both that the XLM-R files use: its WhitespaceSplit splits on JavaScript's \s (U+FEFF but not U+0085), and its
// Metaspace never splits and ignores the old `add_prefix_space` form. Anything else a file declares is an error.
import { WHITESPACE, type NormalizedText } from "./normalized-text.js";

export type PreTokenize = (pieces: NormalizedText[]) => NormalizedText[];

const SUPPORTED = ["Sequence", "WhitespaceSplit", "Metaspace"];
const PREPEND_SCHEMES = ["always", "never", "first"] as const;

/** The pre-tokenizer a tokenizer.json declares (`null`: none); `where` names the file in errors. */
export function buildPreTokenizer(config: any, where: string): PreTokenize | undefined {
  if (config === null || config === undefined) return undefined;
  const fail = (what: string) => new Error(`${where}: pre-tokenizer ${config.type}: ${what}`);
  switch (config.type) {
    case "Sequence": {
      if (!Array.isArray(config.pretokenizers)) throw fail("expected a `pretokenizers` list");
      const steps = config.pretokenizers.map((p: any) => buildPreTokenizer(p, where)).filter(Boolean) as PreTokenize[];
      return (pieces) => steps.reduce((acc, step) => step(acc), pieces);
    }
    case "WhitespaceSplit":
      return (pieces) => pieces.flatMap((p) => p.split((c) => WHITESPACE.test(c), "removed"));
    case "Metaspace":
      return metaspace(config, fail);
    default:
      throw new Error(
        `${where}: pre-tokenizer type ${JSON.stringify(config.type)} is not supported (supported: ${SUPPORTED.join(", ")})`,
      );
  }
}

/**
 * Metaspace: spaces become the replacement character, which is prepended per `prepend_scheme` ("first": only to the
 * piece that starts the original text), then each piece is split before every replacement character (`split`,
 * default true). The old form's `add_prefix_space: true` is "always"; `add_prefix_space: false` requires
 * `prepend_scheme: "never"`, as the reference refuses the file otherwise.
 */
function metaspace(config: any, fail: (what: string) => Error): PreTokenize {
  const replacement: unknown = config.replacement;
  if (typeof replacement !== "string" || Array.from(replacement).length !== 1) throw fail("expected a one-character `replacement`");
  const scheme = config.prepend_scheme ?? "always";
  if (!PREPEND_SCHEMES.includes(scheme)) throw fail(`prepend_scheme ${JSON.stringify(scheme)} is not supported`);
  if (config.add_prefix_space === false && scheme !== "never") throw fail("add_prefix_space false does not match prepend_scheme");
  const split = config.split ?? true;
  return (pieces) =>
    pieces.flatMap((p) => {
      p.chars = p.chars.map((c) => (c === " " ? replacement : c));
      const starts = p.chars[0] === replacement;
      if (scheme === "first" && !starts && p.originalStart === undefined) {
        throw fail('prepend_scheme "first" after a Unicode normal form (NFC/NFD/NFKC/NFKD) is not supported');
      }
      if (!starts && (scheme === "always" || (scheme === "first" && p.originalStart === 0))) p.prepend(replacement);
      return split ? p.split((c) => c === replacement, "mergedWithNext") : [p];
    });
}
