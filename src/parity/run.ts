// Dispatches the cases of a fixture set to their runners.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { CaseSet, type Case } from "./cases.js";
import type { CaseResult } from "./report.js";
import type { ParityOptions } from "./options.js";
import { runClipCase } from "./clip.js";
import { runMClipCase } from "./mclip.js";
import { runPriorCase } from "./prior.js";
import { runMoVQCase } from "./movq.js";
import { runImageProcessorCase } from "./images.js";
import { runUNetCase } from "./unet.js";
import { isSeedSet, runSeedCases } from "./seeds.js";

export interface ParityLine {
  id: string;
  result: CaseResult;
}

export interface RunOptions extends ParityOptions {
  only?: string[];
}

type Runner = (set: CaseSet, c: Case, o: ParityOptions) => Promise<CaseResult> | CaseResult;

/** Case id prefix → runner. The first matching prefix wins. */
const RUNNERS: [string, Runner][] = [
  ["clip_text.", runClipCase],
  ["clip_vision.", runClipCase],
  ["clip_image_processor.", runImageProcessorCase],
  ["mclip.", runMClipCase],
  ["prior.", runPriorCase],
  ["movq.", runMoVQCase],
  ["unet.", runUNetCase],
  ["unet_inpaint.", runUNetCase],
];

function selected(id: string, only?: string[]): boolean {
  return !only || only.some((p) => id.startsWith(p));
}

/** The folders a case needs, relative to the set: its target when that names a component or pipeline folder. */
function missingFolder(set: CaseSet, c: Case): string | undefined {
  const parts = c.target.split(/[+ ]/)[0];
  if (c.kind === "function" || !/^[a-z_]+(\/[a-z_]+)?$/.test(parts)) return undefined;
  return existsSync(join(set.dir, parts)) ? undefined : parts;
}

export async function* runReferenceCases(dir: string, o: RunOptions): AsyncGenerator<ParityLine> {
  const set = new CaseSet(dir);
  for (const c of set.cases) {
    if (!selected(c.id, o.only)) continue;
    const runner = RUNNERS.find(([p]) => c.id.startsWith(p))?.[1];
    const missing = missingFolder(set, c);
    if (!runner) {
      yield { id: c.id, result: { status: "SKIP", detail: `no runner for ${c.kind} case` } };
    } else if (missing) {
      yield { id: c.id, result: { status: "SKIP", detail: `${missing} not in this set` } };
    } else {
      try {
        yield { id: c.id, result: await runner(set, c, o) };
      } catch (e) {
        yield { id: c.id, result: { status: "FAIL", detail: (e as Error).message.split("\n")[0] } };
      }
    }
  }
}

export async function* runParity(dir: string, o: RunOptions): AsyncGenerator<ParityLine> {
  if (isSeedSet(dir)) {
    for await (const { id, result } of runSeedCases(dir, o.only)) yield { id, result };
    return;
  }
  if (existsSync(join(dir, "cases.json"))) {
    yield* runReferenceCases(dir, o);
    return;
  }
  throw new Error(`${dir}: not a fixture set (no cases.json, clip_cases.json or xlmr_cases.json)`);
}
