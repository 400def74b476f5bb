// Tokenizers as the reference loads them from the real repos' files: the class model_index.json names, a fast
// tokenizer run with the full semantics its tokenizer.json declares, CLIP's pad and special tokens from its
// configs, and the prior's prompt length from model_max_length.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CaseSet } from "../src/parity/cases.js";
import { runE2ETokenize } from "../src/parity/tokenizers.js";
import { Kandinsky } from "../src/pipelines/kandinsky.js";
import {
  ClipTokenizer, JsonTokenizer, XlmrTokenizer, loadPipelineTokenizer, loadTokenizer, type TextTokenizer,
} from "../src/tokenizers/index.js";
import { FIXTURES } from "./fixtures.js";

const fixtures = FIXTURES;
const realLayout = join(fixtures, "real-layout");
const tinyA = join(fixtures, "tiny-a");

/** Copies a folder tree with writable files (the fixtures are read-only), skipping weights. */
function copyTree(src: string, dst: string): void {
  mkdirSync(dst, { recursive: true });
  for (const name of readdirSync(src)) {
    const from = join(src, name);
    if (statSync(from).isDirectory()) copyTree(from, join(dst, name));
    else if (!/\.(safetensors|bin)$/.test(name)) writeFileSync(join(dst, name), readFileSync(from));
  }
}

function withTemp(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "tokjson-"));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const editJson = (file: string, edit: (j: any) => void) => {
  const j = JSON.parse(readFileSync(file, "utf8"));
  edit(j);
  writeFileSync(file, JSON.stringify(j));
};

/** Row `i` of an e2e.tokenize output, without padding. */
function referenceIds(output: "xlmr_input_ids" | "clip_input_ids", i: number): number[] {
  const set = new CaseSet(realLayout);
  const c = set.get("e2e.tokenize");
  const t = set.tensor(c.outputs[output]);
  const mask = set.tensor(c.outputs[output.replace("input_ids", "attention_mask")]);
  const n = t.shape[1];
  return Array.from(t.data.slice(i * n, (i + 1) * n)).filter((_, k) => mask.data[i * n + k] === 1);
}

function referencePrompt(i: number): string {
  return new CaseSet(realLayout).get("e2e.tokenize").params.prompts[i];
}

test("e2e.tokenize (real-layout): the decoder's fast tokenizer from tokenizer.json gives the reference rows", () => {
  const set = new CaseSet(realLayout);
  const r = runE2ETokenize(set, set.get("e2e.tokenize"));
  assert.equal(r.status, "PASS", r.detail);
});

test("the class model_index.json names decides how a tokenizer folder is read", () => {
  const decoder = join(realLayout, "decoder");
  // XLMRobertaTokenizerFast + tokenizer.json: the fast tokenizer, though tokenizer_config.json says XLMRobertaTokenizer.
  assert.ok(loadPipelineTokenizer(decoder) instanceof JsonTokenizer);
  assert.ok(loadTokenizer(join(decoder, "tokenizer")) instanceof XlmrTokenizer);
  // A fast class without tokenizer.json runs the slow tokenizer (tiny-a's reference did).
  assert.ok(loadPipelineTokenizer(join(tinyA, "decoder")) instanceof XlmrTokenizer);
  assert.ok(loadPipelineTokenizer(join(realLayout, "prior")) instanceof ClipTokenizer);

  const nel = referencePrompt(28);
  assert.equal(nel, "hello\u0085world");
  withTemp((dir) => {
    copyTree(decoder, dir);
    const setClass = (cls: string) => editJson(join(dir, "model_index.json"), (j) => (j.tokenizer = ["transformers", cls]));
    setClass("XLMRobertaTokenizer");
    const slow = loadPipelineTokenizer(dir);
    assert.ok(slow instanceof XlmrTokenizer);
    // U+0085: the slow tokenizer keeps it as an unknown character, the fast one splits there.
    assert.ok(slow.ids(nel).includes(3));
    assert.notDeepEqual(slow.ids(nel), referenceIds("xlmr_input_ids", 28));
    setClass("GPT2Tokenizer");
    assert.throws(() => loadPipelineTokenizer(dir), /tokenizer class GPT2Tokenizer is not supported/);
    // No model_index.json: tokenizer_config.json's class.
    rmSync(join(dir, "model_index.json"));
    assert.ok(loadPipelineTokenizer(dir) instanceof XlmrTokenizer);
  });
});

test("old-layout tokenizer.json: whitespace runs, whitespace-only text, <mask> lstrip and U+0085 as the reference", () => {
  const fast = loadPipelineTokenizer(join(realLayout, "decoder"));
  const cases: [number, string][] = [
    [6, "  extra   spaces\tand a tab\nand a newline  "],
    [26, "a cat <mask> dog"],
    [27, "<mask>"],
    [28, "hello\u0085world"],
    [29, "line one\u2028line two"],
    [30, "   "],
    [31, "\t\n"],
  ];
  for (const [i, text] of cases) {
    assert.equal(referencePrompt(i), text);
    assert.deepEqual(fast.ids(text), referenceIds("xlmr_input_ids", i), JSON.stringify(text));
  }
  assert.deepEqual(fast.ids("   "), [0, 2]);
  assert.ok(!fast.ids("a cat <mask> dog").includes(4), "no stray ▁ before <mask>");
  assert.deepEqual(fast.ids("hello\u0085world"), fast.ids("hello world"));
  // Precompiled replaces a grapheme shorter than 6 bytes by its *shortest* rule as a whole: the accent goes.
  assert.deepEqual(fast.ids("\ufb01\u0301"), fast.ids("fi"));
});

// A hand-made Unigram tokenizer.json: ids 0-3 <s> <pad> </s> <unk>, then the pieces, <mask> last.
const VOCAB: [string, number][] = [
  ["<s>", 0], ["<pad>", 0], ["</s>", 0], ["<unk>", 0],
  ["▁", -0.5], ["▁a", -1], ["▁b", -1], ["a", -3], ["b", -3], ["a▁b", -0.1], ["<mask>", 0],
];
const [SP, SP_A, SP_B, A, B, A_SP_B, MASK, UNK] = [4, 5, 6, 7, 8, 9, 10, 3];
const metaspace = (extra: object) => ({ type: "Metaspace", replacement: "▁", ...extra });
const addedToken = (content: string, flags: object = {}) => ({
  id: 0, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true, ...flags,
});

/** A fast XLM-R tokenizer (the model_index class) from `json` merged over a bare Unigram file. */
function fastTokenizer(dir: string, json: object): TextTokenizer {
  const file = {
    version: "1.0", truncation: null, padding: null, added_tokens: [], normalizer: null,
    pre_tokenizer: metaspace({ prepend_scheme: "always", split: true }), post_processor: null, decoder: null,
    model: { type: "Unigram", unk_id: 3, vocab: VOCAB },
    ...json,
  };
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(file));
  return loadTokenizer(dir, "XLMRobertaTokenizerFast");
}

test("Metaspace: the new prepend_scheme and split form, and the old add_prefix_space form", () => {
  withTemp((dir) => {
    const ids = (pre: object, text: string) => fastTokenizer(dir, { pre_tokenizer: pre }).ids(text);
    assert.deepEqual(ids(metaspace({ prepend_scheme: "always", split: true }), "a b"), [SP_A, SP_B]);
    assert.deepEqual(ids(metaspace({ prepend_scheme: "always", split: false }), "a b"), [SP, A_SP_B]);
    assert.deepEqual(ids(metaspace({ prepend_scheme: "never" }), "a b"), [A, SP_B]);
    // "first": only the piece that starts the original text gets the prefix.
    const first = { type: "Sequence", pretokenizers: [{ type: "WhitespaceSplit" }, metaspace({ prepend_scheme: "first" })] };
    assert.deepEqual(ids(first, "a b"), [SP_A, B]);
    assert.deepEqual(ids(first, " a"), [A]);
    // Old form: add_prefix_space true is "always" (split by default); false must come with prepend_scheme never.
    assert.deepEqual(ids(metaspace({ add_prefix_space: true }), "a b"), [SP_A, SP_B]);
    assert.deepEqual(ids(metaspace({ add_prefix_space: false, prepend_scheme: "never" }), "a b"), [A, SP_B]);
    assert.throws(() => ids(metaspace({ add_prefix_space: false }), "a"), /add_prefix_space false does not match/);
  });
});

test("normalizers Strip, Replace, Prepend and Sequence, with Unicode whitespace", () => {
  withTemp((dir) => {
    const tok = fastTokenizer(dir, {
      normalizer: {
        type: "Sequence",
        normalizers: [
          { type: "Strip", strip_left: true, strip_right: true },
          { type: "Replace", pattern: { Regex: " {2,}" }, content: " " },
          { type: "Prepend", prepend: "▁" },
        ],
      },
      pre_tokenizer: metaspace({ prepend_scheme: "never" }),
    });
    assert.deepEqual(tok.ids("  a   b  "), [SP_A, SP_B]);
    assert.deepEqual(tok.ids("\u0085a"), [SP_A]); // U+0085 is White_Space (JavaScript's trim keeps it)
    assert.deepEqual(tok.ids("\ufeffa"), [SP, UNK, A]); // U+FEFF is not (JavaScript's trim removes it)
    assert.deepEqual(tok.ids(" \t "), []);
  });
});

test("added tokens: ids, lstrip / rstrip / single_word / normalized flags, and specials the file lacks", () => {
  withTemp((dir) => {
    const tok = fastTokenizer(dir, {
      normalizer: { type: "Lowercase" },
      added_tokens: [
        addedToken("<x>", { rstrip: true }), addedToken("<z>"), addedToken("<w>", { single_word: true }),
        addedToken("<N>", { normalized: true }),
      ],
    });
    // Contents outside the model vocabulary take the next ids after it, in file order.
    const [X, Z, W, N] = [11, 12, 13, 14];
    assert.deepEqual(tok.ids("<x>  b"), [X, SP_B]);
    assert.deepEqual(tok.ids("<z>  b"), [Z, SP, SP_B]);
    // <mask> is not in the file's added tokens: XLMRobertaTokenizerFast adds it (lstrip) from its defaults.
    assert.deepEqual(tok.ids("a  <mask>"), [SP_A, MASK]);
    assert.deepEqual(tok.ids("a  <z>"), [SP_A, SP, SP, Z]);
    assert.deepEqual(tok.ids("a<w>"), [SP_A, UNK]);
    assert.deepEqual(tok.ids("a <w> b"), [SP_A, SP, W, SP_B]);
    // normalized: matched in the lowercased text; a raw token is only matched in the raw text.
    assert.deepEqual(tok.ids("<N>"), [N]);
    assert.deepEqual(tok.ids("<n>"), [N]);
    assert.deepEqual(tok.ids("<Z>"), [SP, UNK]);
    assert.equal(tok.padId, 1);
  });
});

test("post-processors frame the ids and truncation keeps room for them", () => {
  withTemp((dir) => {
    const template = {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "</s>", type_id: 0 } }, { SpecialToken: { id: "</s>", type_id: 0 } }],
      special_tokens: { "<s>": { id: "<s>", ids: [0], tokens: ["<s>"] }, "</s>": { id: "</s>", ids: [2], tokens: ["</s>"] } },
    };
    const tok = fastTokenizer(dir, { post_processor: template });
    assert.deepEqual(tok.ids("a"), [0, SP_A, 2, 2]);
    assert.deepEqual(tok.encode("a b", { maxLength: 5 }).inputIds, [0, SP_A, SP_B, 2, 2]);
    assert.deepEqual(tok.encode("a b", { maxLength: 4 }).inputIds, [0, SP_A, 2, 2]);
    assert.deepEqual(tok.encode("a", { maxLength: 6 }), { inputIds: [0, SP_A, 2, 2, 1, 1], attentionMask: [1, 1, 1, 1, 0, 0], untruncatedLength: 4 });
    assert.throws(() => tok.encode("a", { maxLength: 2 }), /maxLength must be an integer >= 3/);
    const roberta = fastTokenizer(dir, { post_processor: { type: "RobertaProcessing", sep: ["</s>", 2], cls: ["<s>", 0] } });
    assert.deepEqual(roberta.ids("a"), [0, SP_A, 2]);
  });
});

test("a component the file declares that we do not implement is an error naming the file and the type", () => {
  withTemp((dir) => {
    const file = join(dir, "tokenizer.json").replace(/[.\\/]/g, "\\$&");
    const cases: [object, RegExp][] = [
      [{ normalizer: { type: "BertNormalizer" } }, /normalizer type "BertNormalizer" is not supported/],
      [{ normalizer: { type: "Sequence", normalizers: [{ type: "StripAccents" }] } }, /normalizer type "StripAccents"/],
      [{ normalizer: { type: "Replace", pattern: { Regex: "(a|b)" }, content: "" } }, /Regex "\(a\|b\)" uses syntax/],
      [{ normalizer: { type: "Replace", pattern: { Regex: "x*" }, content: "" } }, /matches the empty string/],
      [{ pre_tokenizer: { type: "ByteLevel" } }, /pre-tokenizer type "ByteLevel" is not supported/],
      [{ pre_tokenizer: metaspace({ prepend_scheme: "sometimes" }) }, /prepend_scheme "sometimes" is not supported/],
      [{ model: { type: "BPE", vocab: {}, merges: [] } }, /model type "BPE" is not supported/],
      [{ model: { type: "Unigram", unk_id: 3, vocab: VOCAB, byte_fallback: true } }, /byte_fallback is not supported/],
      [{ post_processor: { type: "ByteLevel" } }, /post-processor type "ByteLevel" is not supported/],
      [{ version: "2.0" }, /unknown tokenizer version 2\.0/],
    ];
    for (const [json, message] of cases) {
      assert.throws(() => fastTokenizer(dir, json), (e: Error) => new RegExp(file).test(e.message) && message.test(e.message));
    }
  });
});

test("CLIP: pad '!' and AddedToken specials from the configs; vocab.json + merges.txt, never tokenizer.json", () => {
  const prior = join(realLayout, "prior");
  const clip = loadPipelineTokenizer(prior);
  assert.equal(clip.padId, 0);
  assert.equal(clip.modelMaxLength, 77);
  for (const i of [22, 23, 24, 25]) assert.deepEqual(clip.ids(referencePrompt(i)), referenceIds("clip_input_ids", i));
  const bang = clip.ids("a!");
  assert.deepEqual([bang[0], bang[bang.length - 1]], [510, 511]); // bos / eos from the AddedToken dicts
  assert.equal(bang[bang.length - 2], 0); // "!" split out as the pad token
  const e = clip.encode("a", { maxLength: 6 });
  assert.deepEqual(e.inputIds.slice(3), [0, 0, 0]);
  assert.deepEqual(e.attentionMask, [1, 1, 1, 0, 0, 0]);
  withTemp((dir) => {
    copyTree(prior, dir);
    writeFileSync(join(dir, "tokenizer", "tokenizer.json"), "{}");
    assert.deepEqual(loadPipelineTokenizer(dir).ids("wow! a red cat"), clip.ids("wow! a red cat"));
    rmSync(join(dir, "tokenizer", "vocab.json"));
    assert.throws(() => loadPipelineTokenizer(dir), /missing .*vocab\.json/);
  });
});

test("the prior pads prompts to its tokenizer's model_max_length; the decoders to diffusers' 77", () => {
  withTemp((dir) => {
    copyTree(join(realLayout, "prior"), dir);
    const config = join(dir, "tokenizer", "tokenizer_config.json");
    editJson(config, (j) => (j.model_max_length = 40));
    const decoder = join(realLayout, "decoder");
    const k = new Kandinsky({ prior: dir, decoder }, { provider: "cpu" });
    const rows = k.priorTokens(["a red cat", ""]);
    assert.deepEqual(rows.ids.map((r) => r.length), [40, 40]);
    assert.deepEqual(rows.mask[1].slice(0, 3), [1, 1, 0]);
    assert.equal(k.decoderTokens(decoder, ["a red cat"]).ids[0].length, 77); // its model_max_length is 512
    editJson(config, (j) => delete j.model_max_length);
    const noLength = new Kandinsky({ prior: dir, decoder }, { provider: "cpu" });
    assert.throws(() => noLength.priorTokens(["a"]), /tokenizer_config\.json has no model_max_length/);
  });
});

test("a decoder tokenizer.json we cannot run fails the request before the first network loads", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tokjson-"));
  try {
    copyTree(join(realLayout, "decoder"), dir);
    editJson(join(dir, "tokenizer", "tokenizer.json"), (j) => (j.normalizer = { type: "BertNormalizer" }));
    const loads: string[] = [];
    const k = new Kandinsky({ prior: join(realLayout, "prior"), decoder: dir }, { provider: "cpu", onLoad: (c) => loads.push(c) });
    await assert.rejects(k.run({ prompt: "a red cat", steps: 2, priorSteps: 2, width: 64, height: 64 }), /normalizer type "BertNormalizer"/);
    assert.deepEqual(loads, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
