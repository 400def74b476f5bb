// sentencepiece's text normaliser (normalizer.cc), applied before the unigram model. tokenizers.js's `Precompiled`
// normaliser ignores the precompiled charsmap (it approximates it with NFKC), so the charsmap rules are applied here:
// at each position the longest rule in the charsmap's double-array trie that prefixes the remaining UTF-8 bytes
// replaces them, then whitespace is trimmed and collapsed, a dummy "▁" prefix added and spaces escaped to "▁".
import type { NormalizerSpec } from "./sentencepiece-model.js";

const SPACE = 0x20;
const META_SPACE = [0xe2, 0x96, 0x81]; // U+2581 in UTF-8

/** Longest-prefix lookup in a darts-clone double array (the charsmap's trie), over UTF-8 bytes. */
class DoubleArray {
  constructor(private readonly units: Uint32Array) {}

  /** Length and value of the longest key that prefixes bytes[pos..], or null. */
  longestPrefix(bytes: Uint8Array, pos: number): { length: number; value: number } | null {
    const u = this.units;
    let found: { length: number; value: number } | null = null;
    let node = offset(u[0]);
    for (let i = pos; i < bytes.length; i++) {
      node ^= bytes[i];
      if (node >= u.length) break;
      const unit = u[node];
      if (label(unit) !== bytes[i]) break;
      node ^= offset(unit);
      if (hasLeaf(unit)) found = { length: i - pos + 1, value: value(u[node]) };
    }
    return found;
  }
}

// darts-clone unit layout.
const hasLeaf = (unit: number) => ((unit >>> 8) & 1) === 1;
const value = (unit: number) => unit & 0x7fffffff;
const label = (unit: number) => (unit & 0x800000ff) >>> 0;
const offset = (unit: number) => (unit >>> 10) << ((unit & 0x200) >>> 6);

/** Bytes of the UTF-8 character starting with `lead` (input comes from TextEncoder, so it is well-formed). */
const charLength = (lead: number) => (lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4);

export class SentencePieceNormalizer {
  private readonly trie: DoubleArray | null = null;
  private readonly replacements: Uint8Array = new Uint8Array(0);

  constructor(private readonly spec: NormalizerSpec) {
    const blob = spec.precompiledCharsmap;
    if (blob.length === 0) return; // identity normalisation: only the whitespace handling applies
    // <trie size: uint32 LE><double-array units: uint32 LE each><NUL-terminated replacement strings>
    const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const trieSize = blob.length > 4 ? view.getUint32(0, true) : Infinity;
    if (trieSize + 4 > blob.length || trieSize % 4 !== 0) {
      throw new Error(`sentencepiece normalizer "${spec.name}": precompiled charsmap is malformed`);
    }
    const units = new Uint32Array(trieSize / 4);
    for (let i = 0; i < units.length; i++) units[i] = view.getUint32(4 + 4 * i, true);
    this.trie = new DoubleArray(units);
    this.replacements = blob.subarray(4 + trieSize);
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
    const rule = this.trie?.longestPrefix(input, pos);
    if (!rule) {
      const consumed = Math.min(charLength(input[pos]), input.length - pos);
      return { bytes: input.subarray(pos, pos + consumed), consumed };
    }
    let end = rule.value;
    while (end < this.replacements.length && this.replacements[end] !== 0) end++;
    return { bytes: this.replacements.subarray(rule.value, end), consumed: rule.length };
  }
}

function endsWith(out: number[], suffix: number[]): boolean {
  if (out.length < suffix.length) return false;
  return suffix.every((b, i) => out[out.length - suffix.length + i] === b);
}
