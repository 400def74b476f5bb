// sentencepiece's text normaliser (normalizer.cc), applied before the unigram model. tokenizers.js's `Precompiled`
// normaliser ignores the precompiled charsmap (it approximates it with NFKC), so the charsmap rules are applied here:
// at each position the longest rule in the charsmap that prefixes the remaining UTF-8 bytes replaces them, then
// whitespace is trimmed and collapsed, a dummy "▁" prefix added and spaces escaped to "▁".
import { Charsmap } from "./charsmap.js";
import type { NormalizerSpec } from "./sentencepiece-model.js";

const SPACE = 0x20;
const META_SPACE = [0xe2, 0x96, 0x81]; // U+2581 in UTF-8

/** Bytes of the UTF-8 character starting with `lead` (input comes from TextEncoder, so it is well-formed). */
const charLength = (lead: number) => (lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4);

export class SentencePieceNormalizer {
  private readonly charsmap: Charsmap | undefined;

  constructor(private readonly spec: NormalizerSpec) {
    // An empty charsmap is the identity: only the whitespace handling applies.
    const blob = spec.precompiledCharsmap;
    this.charsmap = blob.length ? new Charsmap(blob, `sentencepiece normalizer "${spec.name}"`) : undefined;
  }

  normalize(text: string): string {
    const input = new TextEncoder().encode(text);
    const { addDummyPrefix, removeExtraWhitespaces, escapeWhitespaces } = this.spec;
    let pos = 0;
    if (removeExtraWhitespaces) {
      while (pos < input.length) {
        const p = this.prefix(input, pos);
        if (p.bytes.length !== 1 || p.bytes[0] !== SPACE) break;
        pos += p.consumed;
      }
    }
    if (pos >= input.length) return "";

    const out: number[] = [];
    const space = escapeWhitespaces ? META_SPACE : [SPACE];
    if (addDummyPrefix) out.push(...space);
    let prevSpace = removeExtraWhitespaces;
    while (pos < input.length) {
      const p = this.prefix(input, pos);
      let sp = p.bytes;
      if (prevSpace) {
        let k = 0;
        while (k < sp.length && sp[k] === SPACE) k++;
        sp = sp.subarray(k);
      }
      if (sp.length > 0) {
        for (const b of sp) {
          if (b === SPACE) out.push(...space);
          else out.push(b);
        }
        prevSpace = sp[sp.length - 1] === SPACE;
      }
      pos += p.consumed;
      if (!removeExtraWhitespaces) prevSpace = false;
    }
    if (removeExtraWhitespaces) {
      while (endsWith(out, space)) out.length -= space.length;
    }
    return new TextDecoder().decode(new Uint8Array(out));
  }

  /** The normalised form of the character(s) at `pos` and how many input bytes they span. */
  private prefix(input: Uint8Array, pos: number): { bytes: Uint8Array; consumed: number } {
    const rule = this.charsmap?.longest(input, pos);
    if (!rule) {
      const consumed = Math.min(charLength(input[pos]), input.length - pos);
      return { bytes: input.subarray(pos, pos + consumed), consumed };
    }
    return { bytes: rule.replacement, consumed: rule.length };
  }
}

function endsWith(out: number[], suffix: number[]): boolean {
  if (out.length < suffix.length) return false;
  return suffix.every((b, i) => out[out.length - suffix.length + i] === b);
}
