import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { CaseSet } from "../src/parity/cases.js";
import { isTokenizerSet, runE2ETokenize, runTokenizerCases } from "../src/parity/tokenizers.js";
import { loadTokenizer, toInt64, tokenizeBatch } from "../src/tokenizers/index.js";
import { splitOnSpecialTokens } from "../src/tokenizers/special-tokens.js";
import { fixture, FIXTURES } from "./fixtures.js";

const fixtures = FIXTURES;
const tokenizerSet = join(fixtures, "tokenizers");
const tinyA = join(fixtures, "tiny-a");

async function runAll(dir: string, only?: string[]) {
  const out: { id: string; status: string; detail?: string }[] = [];
  for await (const { id, result } of runTokenizerCases(dir, only)) out.push({ id, status: result.status, detail: result.detail });
  return out;
}

function assertAllPass(results: { id: string; status: string; detail?: string }[], count: number) {
  assert.equal(results.length, count);
  for (const r of results) assert.equal(r.status, "PASS", `${r.id}: ${r.detail}`);
}

test("tokenizer fixture set: all 40 CLIP and 40 XLM-R cases match the reference ids", async () => {
  assert.ok(isTokenizerSet(tokenizerSet));
  assert.ok(!isTokenizerSet(tinyA));
  const results = await runAll(tokenizerSet);
  assertAllPass(results, 80);
  assert.equal(results.filter((r) => r.id.startsWith("clip.")).length, 40);
  assert.deepEqual(await runAll(tokenizerSet, ["xlmr.special_"]).then((r) => r.map((x) => x.id)), [
    "xlmr.special_mask",
    "xlmr.special_s",
  ]);
});

test("e2e.tokenize (tiny-a): prior and decoder tokenizers give the reference rows", () => {
  const set = new CaseSet(tinyA);
  const r = runE2ETokenize(set, set.get("e2e.tokenize"));
  assert.equal(r.status, "PASS", r.detail);
});

test("a wrong expectation is reported as a failure", () => {
  const set = new CaseSet(tinyA);
  const c = structuredClone(set.get("e2e.tokenize"));
  c.params.per_prompt[0].xlmr_untruncated_len += 1;
  const r = runE2ETokenize(set, c);
  assert.equal(r.status, "FAIL");
  assert.match(r.detail!, /decoder\/tokenizer untruncated lengths\[0\]/);
});

test("special tokens: split out wherever they occur; plain strings strip both sides, AddedTokens per their flags", () => {
  const s = { content: "<s>", addedToken: false, lstrip: false, rstrip: false };
  const ss = { content: "<s><s>", addedToken: false, lstrip: false, rstrip: false };
  const mask = { content: "<mask>", addedToken: true, lstrip: true, rstrip: false };
  assert.deepEqual(splitOnSpecialTokens("a <s> b <mask> c", [s, mask]), [
    { text: "a" }, { special: "<s>" }, { text: "b" }, { special: "<mask>" }, { text: " c" },
  ]);
  assert.deepEqual(splitOnSpecialTokens("<s> <s><s>x", [s, ss]), [{ special: "<s>" }, { special: "<s><s>" }, { text: "x" }]);
  const xlmr = loadTokenizer(join(tokenizerSet, "xlmr"));
  const content = (text: string) => xlmr.ids(text).slice(1, -1);
  assert.deepEqual(content("x<s>y</s>z<mask>"), [...content("x"), 0, ...content("y"), 2, ...content("z"), 779]);
});

test("encode: truncation keeps start + first maxLength-2 + end, pads the rest", () => {
  const clip = loadTokenizer(join(tokenizerSet, "clip"));
  const full = clip.ids("a photo of a cat sitting on a chair");
  const e = clip.encode("a photo of a cat sitting on a chair", { maxLength: 5 });
  assert.deepEqual(e.inputIds, [...full.slice(0, 4), full[full.length - 1]]);
  assert.deepEqual(e.attentionMask, [1, 1, 1, 1, 1]);
  assert.equal(e.untruncatedLength, full.length);
  const short = clip.encode("cat", { maxLength: 6 });
  assert.deepEqual(short.attentionMask, [1, 1, 1, 0, 0, 0]);
  assert.deepEqual(short.inputIds.slice(3), [clip.padId, clip.padId, clip.padId]);
  assert.throws(() => clip.encode("cat", { maxLength: 1 }), /maxLength/);
});

test("tokenizeBatch fills row-major [n, maxLength] arrays", () => {
  const xlmr = loadTokenizer(join(tokenizerSet, "xlmr"));
  const b = tokenizeBatch(xlmr, ["a cat", ""], 8);
  assert.deepEqual(b.shape, [2, 8]);
  assert.deepEqual([...b.inputIds.subarray(8)], [0, 2, 1, 1, 1, 1, 1, 1]);
  assert.deepEqual([...b.inputIds.subarray(0, 8)], xlmr.encode("a cat", { maxLength: 8 }).inputIds);
  assert.deepEqual(b.untruncatedLengths, [xlmr.ids("a cat").length, 2]);
  assert.deepEqual(toInt64(b.attentionMask.subarray(8, 11)), BigInt64Array.of(1n, 1n, 0n));
});

test("loadTokenizer names what is missing", () => {
  assert.throws(() => loadTokenizer(join(tokenizerSet, "nope")), /nope does not exist/);
  assert.throws(() => loadTokenizer(tinyA), /no tokenizer found/);
  assert.equal(loadTokenizer(join(tinyA, "prior/tokenizer")).kind, "clip");
  assert.equal(loadTokenizer(join(tinyA, "decoder/tokenizer")).kind, "xlmr");
});
