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
import { runPipelineCase } from "./pipelines.js";
import { runSchedulerCase, runFunctionCase } from "./schedulers.js";
import { isTokenizerSet, runTokenizerCases, runE2ETokenize } from "./tokenizers.js";
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
  ["scheduler.", runSchedulerCase],
  ["img2img.add_noise", runFunctionCase],
  ["inpaint.prepare_mask", runFunctionCase],
  ["get_new_h_w", runFunctionCase],
  ["e2e.tokenize", runE2ETokenize],
  ["pipeline.", runPipelineCase],
  ["e2e.text2img.", runPipelineCase],
  ["e2e.mix.", runPipelineCase],
  ["e2e.img2img.", runPipelineCase],
  ["e2e.inpaint.", runPipelineCase],
];

function selected(id: string, only?: string[]): boolean {
  return !only || only.some((p) => id.startsWith(p));
}

/** The first folder a case needs that the set lacks: its target component or pipeline folders. */
function missingFolder(set: CaseSet, c: Case): string | undefined {
  if (c.kind === "function") return undefined;
  // "combined" = prior + the decoder it names; "prior+decoder" and "prior/tokenizer + decoder/tokenizer" list them.
  const folders = c.target === "combined" ? ["prior", c.id.includes("inpaint") ? "inpaint" : "decoder"]
    : c.target.replace(/\(.*\)/, "").split(/\s*\+\s*|\s+/).filter((f) => /^[a-z_]+(\/[a-z_]+)?$/.test(f));
  return folders.find((f) => !existsSync(join(set.dir, f)));
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
  if (isTokenizerSet(dir)) {
    for await (const { id, result } of runTokenizerCases(dir, o.only)) yield { id, result };
    return;
  }
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
