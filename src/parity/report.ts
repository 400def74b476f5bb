// What one parity case reports, and the comparison every runner uses.
import type { HostTensor } from "./cases.js";
import { maxAbsDiff } from "./cases.js";

export type Status = "PASS" | "FAIL" | "SKIP";

export interface CaseResult {
  status: Status;
  /** Largest absolute difference over every compared output. */
  maxAbs?: number;
  atol?: number;
  /** Why it failed or was skipped. */
  detail?: string;
}

export interface Comparison {
  name: string;
  expected: HostTensor;
  actual: { data: ArrayLike<number>; shape: readonly number[] };
  /** Allowed absolute difference for this output (uint8 images: 1). */
  atol: number;
}

/** Compares outputs; the case fails on the first shape mismatch or on any output beyond its atol. */
export function compare(items: Comparison[], caseAtol: number): CaseResult {
  let worst = 0;
  const bad: string[] = [];
  for (const it of items) {
    const es = it.expected.shape.join("x"), as = it.actual.shape.join("x");
    if (es !== as) {
      bad.push(`${it.name}: shape ${as}, expected ${es}`);
      continue;
    }
    const d = maxAbsDiff(it.actual.data, it.expected.data);
    // uint8 outputs are allowed one step; they do not set the float max_abs.
    if (it.atol === caseAtol) worst = Math.max(worst, d);
    if (!(d <= it.atol)) bad.push(`${it.name}: max_abs=${d.toExponential(3)} > ${it.atol}`);
  }
  return bad.length
    ? { status: "FAIL", maxAbs: worst, atol: caseAtol, detail: bad.join("; ") }
    : { status: "PASS", maxAbs: worst, atol: caseAtol };
}

export function formatResult(id: string, r: CaseResult): string {
  const parts = [r.status, id];
  if (r.maxAbs !== undefined) parts.push(`max_abs=${r.maxAbs.toExponential(3)}`);
  if (r.atol !== undefined) parts.push(`atol=${r.atol}`);
  if (r.detail) parts.push(r.detail);
  return parts.join(" ");
}
