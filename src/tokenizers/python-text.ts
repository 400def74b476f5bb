// Python's str whitespace rules (str.isspace, strip, split), which the reference tokenizers apply and which differ
// from JavaScript's trim/\s (Python also counts U+001C-U+001F and U+0085, but not U+FEFF).
const SPACE = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const LEADING = new RegExp(`^[${SPACE}]+`);
const TRAILING = new RegExp(`[${SPACE}]+$`);
const RUNS = new RegExp(`[${SPACE}]+`);

/** `s.lstrip()` */
export function pyLStrip(s: string): string {
  return s.replace(LEADING, "");
}

/** `s.rstrip()` */
export function pyRStrip(s: string): string {
  return s.replace(TRAILING, "");
}

/** `s.split()`: the words between whitespace runs, no empty strings. */
export function pySplit(s: string): string[] {
  return s.split(RUNS).filter((w) => w.length > 0);
}
