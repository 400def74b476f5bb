// Hugging Face tokenizers' NormalizedString: normalised text plus, per character, the span of the original text it
// came from. The only use of the spans here is Metaspace's `prepend_scheme: "first"`, which prepends only to the
// piece that starts at original offset 0, so the spans follow the reference's bookkeeping exactly, quirks included
// (e.g. a deletion at the very start shifts the spans of what follows). Positions count code points where the
// reference counts UTF-8 bytes; every span boundary is a character boundary, so the two agree.

/** [start, end) in this piece's original text. */
type Span = readonly [number, number];

/** A replacement character and what it does to the text it replaces: 0 replaces one character, n > 0 inserts (n = 1),
 * n < 0 replaces one and removes -n more. The reference's `(char, isize)` transformation. */
export type Change = [string, number];

/** Rust's `char::is_whitespace` and regex `\s`: the Unicode White_Space property. */
export const WHITESPACE = /^\p{White_Space}$/u;

/** Code points before UTF-16 index `i`. */
function codePointIndex(text: string, i: number): number {
  let n = 0;
  for (let k = 0; k < i; k++) {
    const c = text.charCodeAt(k);
    if (c < 0xdc00 || c > 0xdfff || k === 0 || text.charCodeAt(k - 1) < 0xd800 || text.charCodeAt(k - 1) > 0xdbff) n++;
  }
  return n;
}

export class NormalizedText {
  private constructor(
    public chars: string[],
    /** undefined once a step whose spans we do not compute (a Unicode normal form) has run */
    private spans: Span[] | undefined,
    private readonly originalLength: number,
    /** Start of this piece in the whole original text; undefined when unknown. */
    readonly originalStart: number | undefined,
  ) {}

  static from(text: string): NormalizedText {
    const chars = Array.from(text);
    return new NormalizedText(chars, chars.map((_, i) => [i, i + 1]), chars.length, 0);
  }

  get text(): string {
    return this.chars.join("");
  }

  get length(): number {
    return this.chars.length;
  }

  /** `transform_range` over the normalised characters [from, to). */
  transformRange(from: number, to: number, dest: Iterable<Change>, initialOffset: number): void {
    const spans = this.spans;
    const available = to - from;
    let consumed = Math.min(initialOffset, available);
    const chars: string[] = [];
    const newSpans: Span[] = [];
    for (const [c, change] of dest) {
      const at = from + consumed;
      if (spans) newSpans.push(change > 0 ? (at < 1 ? [0, 0] : spans[at - 1]) : spans[at]);
      if (change <= 0 && consumed < available) consumed++;
      if (change < 0) consumed += Math.min(-change, available - consumed);
      chars.push(c);
    }
    this.chars.splice(from, available, ...chars);
    spans?.splice(from, available, ...newSpans);
  }

  /** `transform`: over the characters the whole original maps to (all but leading zero-width ones). */
  transform(dest: Iterable<Change>, initialOffset: number): void {
    const spans = this.spans;
    if (!spans) return this.transformRange(0, this.chars.length, dest, initialOffset);
    if (this.originalLength === 0) return this.transformRange(0, 0, dest, initialOffset);
    if (spans.length === 0) return;
    let from = 0;
    while (from < spans.length && spans[from][0] === spans[from][1]) from++;
    this.transformRange(from, spans.length, dest, initialOffset);
  }

  /** Replaces every match of `pattern` (a global regex that cannot match "") by `content`. */
  replace(pattern: RegExp, content: string): void {
    const text = this.text;
    const matches = [...text.matchAll(pattern)].map((m) => {
      const start = codePointIndex(text, m.index!);
      return [start, start + Array.from(m[0]).length] as const;
    });
    const inserted = Array.from(content, (c): Change => [c, 1]);
    // Right to left, so that earlier matches keep their positions (and spans, as in the reference's single pass).
    for (const [start, end] of matches.reverse()) this.transformRange(start, end, inserted, end - start);
  }

  /** `prepend`: `s` before the first character (nothing when empty). */
  prepend(s: string): void {
    if (this.chars.length === 0) return;
    const dest = Array.from(s, (c, i): Change => [c, i === 0 ? 0 : 1]);
    this.transformRange(0, 1, [...dest, [this.chars[0], 1]], 0);
  }

  /** `lrstrip`: whitespace (Unicode White_Space) removed at the ends. */
  strip(left: boolean, right: boolean): void {
    const chars = this.chars;
    const count = chars.length;
    let leading = 0;
    if (left) while (leading < count && WHITESPACE.test(chars[leading])) leading++;
    let trailing = 0;
    if (right) while (trailing < count && WHITESPACE.test(chars[count - 1 - trailing])) trailing++;
    if (leading === 0 && trailing === 0) return;
    // The reference marks the removal on the character at *byte* index len - trailing - 1 (only the last kept
    // character when the text is ASCII).
    const marked = Buffer.byteLength(this.text) - trailing - 1;
    const dest: Change[] = [];
    for (let i = leading; i < count - trailing; i++) dest.push([chars[i], i === marked ? -trailing : 0]);
    this.transform(dest, leading);
  }

  /** `lowercase`: each character by itself (no context-dependent rules). */
  lowercase(): void {
    this.transform(this.chars.flatMap((c) => Array.from(c.toLowerCase(), (l, i): Change => [l, i === 0 ? 0 : 1])), 0);
  }

  /** Pieces between the characters for which `isDelimiter` holds; `mergedWithNext` keeps each delimiter at the
   * start of the piece that follows it, otherwise delimiters are removed. */
  split(isDelimiter: (c: string) => boolean, mode: "removed" | "mergedWithNext"): NormalizedText[] {
    const bounds: [number, number][] = [];
    let start = 0;
    this.chars.forEach((c, i) => {
      if (!isDelimiter(c)) return;
      if (mode === "removed") {
        if (i > start) bounds.push([start, i]);
        start = i + 1;
      } else {
        if (i > start) bounds.push([start, i]);
        start = i;
      }
    });
    if (this.chars.length > start) bounds.push([start, this.chars.length]);
    return bounds.map(([from, to]) => this.slice(from, to));
  }

  /** Replaces the text by one whose spans we do not follow (Unicode normal forms). */
  replaceUntracked(text: string): void {
    this.chars = Array.from(text);
    this.spans = undefined;
  }

  /** The piece [from, to) of the normalised characters, `from < to`. */
  slice(from: number, to: number): NormalizedText {
    const spans = this.spans;
    if (!spans) return new NormalizedText(this.chars.slice(from, to), undefined, 0, undefined);
    const [start, end] = [spans[from][0], spans[to - 1][1]];
    return new NormalizedText(
      this.chars.slice(from, to),
      spans.slice(from, to).map(([s, e]) => [s - start, e - start]),
      end - start,
      this.originalStart === undefined ? undefined : this.originalStart + start,
    );
  }
}
