import { test } from "node:test";
import assert from "node:assert/strict";
import { CaseSet, maxAbsDiff } from "../src/parity/cases.js";
import { runMoVQCase } from "../src/parity/movq.js";
import { formatResult } from "../src/parity/report.js";
import { buildNetwork, openSession } from "../src/models/network.js";
import { MoVQDecodeSpec, MoVQEncodeSpec } from "../src/models/movq/movq.js";
import { movqScaleFactor, parseVQModelConfig } from "../src/models/movq/config.js";
import { Checkpoint } from "../src/weights/checkpoint.js";
import { readConfig } from "../src/weights/config.js";
import type { BuildOptions } from "../src/weights/weight-view.js";
import { fixture } from "./fixtures.js";

const tiny = fixture("tiny-a");
const full = fixture("full-configs");
const movqDir = `${tiny}/decoder/movq`;
const FP32: BuildOptions = { compute: "float32", attention: "fused" };

/** Deterministic values in [-2, 2). */
function pseudoRandom(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 4 - 2;
  }
  return out;
}

for (const attention of ["fused", "plain"] as const) {
  test(`MoVQ decode, decode_quantized and encode match the reference (${attention} attention)`, async () => {
    const set = new CaseSet(tiny);
    for (const id of ["movq.decode", "movq.decode_quantized", "movq.encode"]) {
      const c = set.get(id);
      const r = await runMoVQCase(set, c, { build: { compute: "float32", attention }, session: {} });
      console.log(`${attention}: ${formatResult(id, r)}`);
      assert.equal(r.status, "PASS", formatResult(id, r));
      assert.ok(r.maxAbs! <= c.suggested_tolerance!.atol);
    }
  });
}

test("one decode graph serves any batch and non-square size; batch items are independent", async () => {
  const set = new CaseSet(tiny);
  const c = set.get("movq.decode");
  const net = buildNetwork(MoVQDecodeSpec, { dir: movqDir }, { quantize: false }, FP32);
  const f = movqScaleFactor(net.config);
  const session = await openSession(net);
  try {
    const lat = set.tensor(c.inputs.latents);
    const ref = await session.run({ latents: { data: lat.data, dims: lat.shape } });
    assert.ok(maxAbsDiff(ref.image.data as Float32Array, set.tensor(c.outputs.image).data) <= c.suggested_tolerance!.atol);

    const [C, h, w] = [net.config.vqEmbedDim, 6, 10];
    const item = C * h * w;
    const both = pseudoRandom(2 * item, 7);
    const out = await session.run({ latents: { data: both, dims: [2, C, h, w] } });
    assert.deepEqual(out.image.dims, [2, net.config.outChannels, h * f, w * f]);
    const second = await session.run({ latents: { data: both.slice(item), dims: [1, C, h, w] } });
    const per = out.image.data.length / 2;
    assert.ok(maxAbsDiff((out.image.data as Float32Array).subarray(per), second.image.data as Float32Array) < 1e-5);
    assert.ok(maxAbsDiff((out.image.data as Float32Array).subarray(0, per), second.image.data as Float32Array) > 1e-3);
  } finally {
    await session.release();
  }

  const enc = buildNetwork(MoVQEncodeSpec, { dir: movqDir }, undefined, FP32);
  const es = await openSession(enc);
  try {
    const [H, W] = [3 * f, 5 * f];
    const out = await es.run({ image: { data: pseudoRandom(2 * 3 * H * W, 11), dims: [2, 3, H, W] } });
    assert.deepEqual(out.latents.dims, [2, enc.config.vqEmbedDim, 3, 5]);
  } finally {
    await es.release();
  }
});

test("fp16 weights (variant file) and float16 compute decode close to the float32 result", async () => {
  const set = new CaseSet(tiny);
  const c = set.get("movq.decode");
  const lat = set.tensor(c.inputs.latents), ref = set.tensor(c.outputs.image);
  const refMax = ref.data.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  const cases: [string | undefined, BuildOptions][] = [
    ["fp16", FP32],
    [undefined, { compute: "float16", attention: "fused" }],
  ];
  for (const [variant, build] of cases) {
    const net = buildNetwork(MoVQDecodeSpec, { dir: movqDir, variant }, { quantize: false }, build);
    if (variant) assert.ok([...net.checkpoint!.tensors.values()].every((t) => t.dtype === "F16"), "the fp16 file was not loaded");
    const s = await openSession(net);
    try {
      const out = await s.run({ latents: { data: lat.data, dims: lat.shape } });
      assert.ok(out.image.data instanceof Float32Array);
      const d = maxAbsDiff(out.image.data, ref.data);
      console.log(`variant ${variant ?? "fp32"}, compute ${build.compute}: max_abs ${d.toExponential(3)} (output max ${refMax.toFixed(3)})`);
      // Half precision keeps ~3 decimal digits; a few layers of rounding stay within 0.5% of the output range.
      assert.ok(d > 0 && d < 5e-3 * refMax, `max_abs ${d}`);
    } finally {
      await s.release();
    }
  }
});

test("tiny MoVQ graphs use every checkpoint tensor", () => {
  const dec = buildNetwork(MoVQDecodeSpec, { dir: movqDir }, { quantize: true });
  const enc = buildNetwork(MoVQEncodeSpec, { dir: movqDir }, undefined);
  let total = 0;
  for (const t of new Checkpoint(movqDir).tensors.values()) total += t.shape.reduce((a, b) => a * b, 1);
  assert.equal(dec.graph.parameterCount + enc.graph.parameterCount, total);
});

test("full-size MoVQ config builds with ~67M parameters", () => {
  const dir = `${full}/decoder/movq`;
  const dec = buildNetwork(MoVQDecodeSpec, { dir, weights: false }, { quantize: true });
  const enc = buildNetwork(MoVQEncodeSpec, { dir, weights: false }, undefined);
  const n = dec.graph.parameterCount + enc.graph.parameterCount;
  console.log(`full MoVQ: decoder side ${dec.graph.parameterCount}, encoder side ${enc.graph.parameterCount}, total ${n}`);
  assert.ok(Math.abs(n / 67e6 - 1) < 0.02, `${n} parameters`);
  assert.equal(movqScaleFactor(dec.config), 8);
});

test("VQModel config: defaults, and clear errors for what is not supported", () => {
  const raw = readConfig(movqDir);
  const d = parseVQModelConfig({});
  assert.equal(d.normType, "group");
  assert.equal(d.vqEmbedDim, d.latentChannels);
  assert.throws(() => parseVQModelConfig({ ...raw, up_block_types: ["AttnUpDecoderBlock2D", "UpBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"] }),
    /unsupported up_block_types entry "UpBlock2D"/);
  assert.throws(() => parseVQModelConfig({ ...raw, down_block_types: ["DownEncoderBlock2D"] }), /1 down and 4 up block types for 4/);
  assert.throws(() => parseVQModelConfig({ ...raw, norm_type: "ada_group" }), /norm_type "ada_group"/);
  assert.throws(() => parseVQModelConfig({ ...raw, vq_embed_dim: 8 }), /vq_embed_dim \(8\) == latent_channels \(4\)/);
});
