// Tokenizer parity: the tokenizer fixture sets (clip_cases.json / xlmr_cases.json) and the e2e.tokenize case.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  DECODER_MAX_LENGTH, loadPipelineTokenizer, loadTokenizer, modelMaxLength, tokenizeBatch, type TextTokenizer,
} from "../tokenizers/index.js";
import type { Case, CaseSet } from "./cases.js";
import type { CaseResult } from "./report.js";

const FORMAT = "kandinsky21-tokenizer-cases/v1";
const CASE_FILES = { clip: "clip_cases.json", xlmr: "xlmr_cases.json" } as const;

interface TokenizerCase {
  id: string;
  text: string;
  input_ids: number[];
  attention_mask: number[];
  untruncated_ids: number[];
}

interface TokenizerCaseFile {
  format: string;
  /** The reference's class, e.g. "CLIPTokenizer (slow)". */
  tokenizer_class: string;
  /** Tokenizer folder, relative to the set. */
  files: string;
  call: { max_length: number };
  cases: TokenizerCase[];
}

function readCaseFile(path: string): TokenizerCaseFile | undefined {
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, "utf8"));
}

export function isTokenizerSet(dir: string): boolean {
  return Object.values(CASE_FILES).some((f) => readCaseFile(join(dir, f))?.format === FORMAT);
}

/** "<name>: length a, expected b" or "<name>[i]: got x, expected y" for the first difference; undefined if equal. */
function difference(name: string, actual: ArrayLike<number>, expected: ArrayLike<number>): string | undefined {
  if (actual.length !== expected.length) return `${name}: length ${actual.length}, expected ${expected.length}`;
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) return `${name}[${i}]: got ${actual[i]}, expected ${expected[i]}`;
  }
  return undefined;
}

function result(differences: (string | undefined)[]): CaseResult {
  const bad = differences.filter((d) => d !== undefined);
  return bad.length ? { status: "FAIL", detail: bad.join("; ") } : { status: "PASS" };
}

function checkCase(tok: TextTokenizer, c: TokenizerCase, maxLength: number): CaseResult {
  const enc = tok.encode(c.text, { maxLength });
  const untruncated = tok.ids(c.text);
  return result([
    difference("input_ids", enc.inputIds, c.input_ids),
    difference("attention_mask", enc.attentionMask, c.attention_mask),
    difference("untruncated_ids", untruncated, c.untruncated_ids),
    enc.untruncatedLength === untruncated.length ? undefined : `untruncatedLength ${enc.untruncatedLength}`,
  ]);
}

const selected = (id: string, only?: string[]) => !only || only.some((p) => id.startsWith(p));

/** Runs the cases of a tokenizer set; ids are `clip.<case>` / `xlmr.<case>`, `only` keeps ids with these prefixes. */
export async function* runTokenizerCases(
  dir: string,
  only?: string[],
): AsyncGenerator<{ id: string; result: CaseResult }> {
  for (const [kind, file] of Object.entries(CASE_FILES)) {
    const path = join(dir, file);
    const set = readCaseFile(path);
    if (!set) continue;
    if (set.format !== FORMAT) throw new Error(`${path}: format "${set.format}", expected "${FORMAT}"`);
    const cases = set.cases.filter((c) => selected(`${kind}.${c.id}`, only));
    if (cases.length === 0) continue;
    let tok: TextTokenizer | undefined;
    let failure: CaseResult | undefined;
    try {
      tok = loadTokenizer(join(dir, set.files), set.tokenizer_class.split(" ")[0]);
      if (tok.kind !== kind) failure = { status: "FAIL", detail: `${set.files} loaded as a ${tok.kind} tokenizer` };
    } catch (e) {
      failure = { status: "FAIL", detail: `cannot load the tokenizer: ${(e as Error).message}` };
    }
    for (const c of cases) {
      let r: CaseResult;
      try {
        r = failure ?? checkCase(tok!, c, set.call.max_length);
      } catch (e) {
        r = { status: "FAIL", detail: (e as Error).message };
      }
      yield { id: `${kind}.${c.id}`, result: r };
    }
  }
}

/**
 * e2e.tokenize: the prompts through the set's prior tokenizer (max_length = model_max_length) and decoder tokenizer
 * (max_length 77, the decoder pipelines' value; the inpaint decoder's tokenizer must agree), each loaded as its
 * pipeline's model_index.json names it; ids, masks and untruncated lengths exact.
 */
export function runE2ETokenize(set: CaseSet, c: Case): CaseResult {
  try {
    const prompts: string[] = c.params.prompts;
    const perPrompt: { clip_untruncated_len: number; xlmr_untruncated_len: number }[] = c.params.per_prompt;
    const check = (prefix: "clip" | "xlmr", pipeline: string, maxLength: (t: TextTokenizer) => number) => {
      const folder = `${pipeline}/tokenizer`;
      const tok = loadPipelineTokenizer(join(set.dir, pipeline));
      const batch = tokenizeBatch(tok, prompts, maxLength(tok));
      const ids = set.tensor(c.outputs[`${prefix}_input_ids`]);
      const mask = set.tensor(c.outputs[`${prefix}_attention_mask`]);
      return [
        difference(`${folder} shape`, batch.shape, ids.shape),
        difference(`${folder} ${prefix}_input_ids`, batch.inputIds, ids.data),
        difference(`${folder} ${prefix}_attention_mask`, batch.attentionMask, mask.data),
        difference(
          `${folder} untruncated lengths`,
          batch.untruncatedLengths,
          perPrompt.map((p) => p[`${prefix}_untruncated_len`]),
        ),
      ];
    };
    const decoders = ["decoder", ...(existsSync(join(set.dir, "inpaint/tokenizer")) ? ["inpaint"] : [])];
    return result([
      ...check("clip", "prior", modelMaxLength),
      ...decoders.flatMap((f) => check("xlmr", f, () => DECODER_MAX_LENGTH)),
    ]);
  } catch (e) {
    return { status: "FAIL", detail: (e as Error).message };
  }
}
