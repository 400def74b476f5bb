// sentencepiece's precompiled charsmap: a darts-clone double-array trie over UTF-8 bytes whose values point into a
// pool of NUL-terminated replacement strings. Read by sentencepiece's own normaliser (longest rule first) and by
// Hugging Face tokenizers' `Precompiled` normaliser (shortest rule first).

/** darts-clone unit layout. */
const hasLeaf = (unit: number) => ((unit >>> 8) & 1) === 1;
const value = (unit: number) => unit & 0x7fffffff;
const label = (unit: number) => (unit & 0x800000ff) >>> 0;
const offset = (unit: number) => (unit >>> 10) << ((unit & 0x200) >>> 6);

export class Charsmap {
  private readonly units: Uint32Array;
  private readonly pool: Uint8Array;

  /** `<trie size: uint32 LE><double-array units: uint32 LE each><replacement strings>`; `where` names it in errors. */
  constructor(blob: Uint8Array, where: string) {
    const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const trieSize = blob.length > 4 ? view.getUint32(0, true) : Infinity;
    if (trieSize + 4 > blob.length || trieSize % 4 !== 0) throw new Error(`${where}: precompiled charsmap is malformed`);
    this.units = new Uint32Array(trieSize / 4);
    for (let i = 0; i < this.units.length; i++) this.units[i] = view.getUint32(4 + 4 * i, true);
    this.pool = blob.subarray(4 + trieSize);
  }

  /**
   * The rules whose keys prefix bytes[pos..], shortest first, each as its key length and replacement; the search
   * stops at a NUL byte when `stopAtNul` (as Hugging Face's reader does).
   */
  private *prefixes(bytes: Uint8Array, pos: number, stopAtNul: boolean): Generator<{ length: number; replacement: Uint8Array }> {
    const u = this.units;
    let node = offset(u[0]);
    for (let i = pos; i < bytes.length; i++) {
      if (stopAtNul && bytes[i] === 0) return;
      node ^= bytes[i];
      if (node >= u.length) return;
      const unit = u[node];
      if (label(unit) !== bytes[i]) return;
      node ^= offset(unit);
      if (hasLeaf(unit)) yield { length: i - pos + 1, replacement: this.replacement(value(u[node])) };
    }
  }

  /** sentencepiece: the longest rule that prefixes bytes[pos..]. */
  longest(bytes: Uint8Array, pos: number): { length: number; replacement: Uint8Array } | undefined {
    let found: { length: number; replacement: Uint8Array } | undefined;
    for (const p of this.prefixes(bytes, pos, false)) found = p;
    return found;
  }

  /** Hugging Face `Precompiled::transform`: the replacement of the shortest rule that prefixes `bytes`. */
  shortest(bytes: Uint8Array): Uint8Array | undefined {
    for (const p of this.prefixes(bytes, 0, true)) return p.replacement;
    return undefined;
  }

  private replacement(start: number): Uint8Array {
    let end = start;
    while (end < this.pool.length && this.pool[end] !== 0) end++;
    return this.pool.subarray(start, end);
  }
}
