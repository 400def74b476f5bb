import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { TorchGenerator } from "../src/noise/torch-generator.js";
import { GeneratorListNoise, ReplayNoise, SeededNoise, randomSeed } from "../src/noise/noise-source.js";
import { isSeedSet, runSeedCases } from "../src/parity/seeds.js";
import { formatResult } from "../src/parity/report.js";
import { fixture } from "./fixtures.js";

const SEEDS_DIR = fixture("seeds");

test("torch generator reproduces every seed fixture bit-exactly", { skip: !existsSync(SEEDS_DIR) && "no seed fixtures" }, async () => {
  assert.ok(isSeedSet(SEEDS_DIR));
  const lines: string[] = [];
  let count = 0;
  for await (const { id, result } of runSeedCases(SEEDS_DIR)) {
    count++;
    lines.push(formatResult(id, result));
    assert.equal(result.status, "PASS", formatResult(id, result));
    assert.equal(result.maxAbs, 0, `not bit-exact: ${formatResult(id, result)}`);
  }
  assert.ok(count > 0, "no seed cases found");
  console.log(`${count} seed cases, all bit-exact`);
});

test("runSeedCases filters by id prefix", { skip: !existsSync(SEEDS_DIR) && "no seed fixtures" }, async () => {
  const ids: string[] = [];
  for await (const { id } of runSeedCases(SEEDS_DIR, ["scalar_cache", "randint_"])) ids.push(id);
  assert.ok(ids.includes("scalar_cache"));
  assert.ok(ids.length > 1 && ids.every((id) => id === "scalar_cache" || id.startsWith("randint_")));
});

test("seeds wrap: 2**32 + 42 and 42 (and -1 and 2**64 - 1) give the same stream", () => {
  const a = new TorchGenerator(2 ** 32 + 42), b = new TorchGenerator(42);
  assert.deepEqual(a.randn([3]), b.randn([3]));
  assert.deepEqual(a.randn([2, 40]), b.randn([2, 40]));
  assert.deepEqual(new TorchGenerator(-1n).rand([20]), new TorchGenerator(2n ** 64n - 1n).rand([20]));
  assert.notDeepEqual(new TorchGenerator(43).rand([20]), b.rand([20]));
});

test("manualSeed restarts the stream and clears the cached normal", () => {
  const g = new TorchGenerator(7);
  const first = g.randn([3]); // leaves a cached value behind
  g.manualSeed(7);
  assert.deepEqual(g.randn([3]), first);
});

test("randint stays in [low, high) and rejects an empty range", () => {
  const v = new TorchGenerator(1).randint(-3, 4, [1000]);
  assert.ok(v.every((x) => x >= -3n && x < 4n));
  assert.equal(new Set(v).size, 7);
  assert.throws(() => new TorchGenerator(1).randint(5, 5, [1]), /low < high/);
});

test("randn of (2,4,96,96) is standard normal", () => {
  const x = new SeededNoise(0).randn([2, 4, 96, 96], "test");
  assert.equal(x.length, 2 * 4 * 96 * 96);
  let s = 0, s2 = 0;
  for (const v of x) { s += v; s2 += v * v; }
  const mean = s / x.length, variance = s2 / x.length - mean * mean;
  assert.ok(Math.abs(mean) < 0.02 && Math.abs(variance - 1) < 0.02, `mean ${mean}, var ${variance}`);
});

test("GeneratorListNoise draws row i from generator i and checks the batch size", () => {
  const noise = new GeneratorListNoise([10, 11]);
  const x = noise.randn([2, 3, 8], "latents");
  assert.deepEqual(x.subarray(0, 24), new TorchGenerator(10).randn([1, 3, 8]));
  assert.deepEqual(x.subarray(24), new TorchGenerator(11).randn([1, 3, 8]));
  assert.throws(() => noise.randn([3, 8], "prior latents"), /prior latents.*batch size 3.*2 generators/);
  // A single-generator list draws the whole tensor from it (diffusers unwraps it).
  assert.deepEqual(new GeneratorListNoise([5]).randn([2, 16], "x"), new TorchGenerator(5).randn([2, 16]));
});

test("ReplayNoise replays in order and names the draw on mismatch or exhaustion", () => {
  const a = { data: new Float32Array([1, 2]), shape: [1, 2] };
  const b = { data: new Float32Array([3, 4, 5]), shape: [3] };
  const replay = new ReplayNoise([a, b]);
  assert.equal(replay.remaining, 2);
  assert.deepEqual(replay.randn([1, 2], "prior latents"), a.data);
  assert.throws(() => replay.randn([1, 3], "unclip step 0"), (e: Error) =>
    /draw 1/.test(e.message) && /unclip step 0/.test(e.message) && /\[1, 3\]/.test(e.message) && /\[3\]/.test(e.message));
  assert.equal(replay.remaining, 1);
  const got = replay.randn([3], "unclip step 0");
  got[0] = 99; // callers may modify what they get without touching the recording
  assert.equal(b.data[0], 3);
  assert.equal(replay.remaining, 0);
  assert.throws(() => replay.randn([3], "ddpm step 1"), /draw 2 by ddpm step 1.*all 2 recorded draws/);
});

test("randomSeed gives integers in [0, 2**32)", () => {
  for (let i = 0; i < 100; i++) {
    const s = randomSeed();
    assert.ok(Number.isInteger(s) && s >= 0 && s < 2 ** 32);
  }
});
