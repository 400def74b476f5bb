import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { CaseSet, maxAbsDiff, type Case } from "../src/parity/cases.js";
import { runUNetCase } from "../src/parity/unet.js";
import { formatResult } from "../src/parity/report.js";
import { buildNetwork, openSession, DEFAULT_BUILD } from "../src/models/network.js";
import { UNET_OUTPUT, UNetSpec } from "../src/models/unet/unet.js";
import { parseUNetConfig } from "../src/models/unet/config.js";
import { Graph } from "../src/runtime/graph.js";
import { Checkpoint } from "../src/weights/checkpoint.js";
import { readConfig } from "../src/weights/config.js";
import { WeightStore } from "../src/weights/weight-view.js";
import type { HostArray } from "../src/runtime/session.js";
import { FIXTURES } from "./fixtures.js";

const TINY = join(FIXTURES, "tiny-a");
const CASES = ["unet.forward_t999", "unet.forward_t37", "unet_inpaint.forward_t501"];
const set = new CaseSet(TINY);

for (const attention of ["fused", "plain"] as const) {
  test(`UNet parity, ${attention} attention`, async () => {
    for (const id of CASES) {
      const r = await runUNetCase(set, set.get(id), { build: { compute: "float32", attention }, session: {} });
      console.log(`${attention} ${formatResult(id, r)}`);
      assert.equal(r.status, "PASS", formatResult(id, r));
    }
  });
}

/** Rows `rows` (in that order) of a [B, ...] tensor. */
function pickRows(data: Float32Array, shape: number[], rows: number[]): HostArray {
  const n = data.length / shape[0];
  const out = new Float32Array(rows.length * n);
  rows.forEach((r, i) => out.set(data.subarray(r * n, (r + 1) * n), i * n));
  return { data: out, dims: [rows.length, ...shape.slice(1)] };
}

function caseFeeds(c: Case, rows: number[]): Record<string, HostArray> {
  const feeds: Record<string, HostArray> = {};
  for (const [name, ref] of Object.entries(c.inputs)) {
    const t = set.tensor(ref);
    feeds[name] = pickRows(t.data, t.shape, rows);
  }
  return feeds;
}

function randomArray(dims: number[], seed: number): HostArray {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    data[i] = s / 1073741824 - 1;
  }
  return { data, dims };
}

test("one graph runs any batch and latent size, with a shared or per-row timestep", async () => {
  const net = buildNetwork(UNetSpec, { dir: join(TINY, "decoder/unet") }, undefined);
  const s = await openSession(net);
  try {
    // Batch of 3 rows taken from the reference case (rows 1, 0, 1), one timestep broadcast to the batch.
    const c = set.get("unet.forward_t999");
    const atol = c.suggested_tolerance!.atol;
    const expected = set.tensor(c.outputs.sample);
    const out = await s.run({ ...caseFeeds(c, [1, 0, 1]), timestep: { data: Float32Array.of(c.params.timestep), dims: [1] } });
    const want = pickRows(expected.data, expected.shape, [1, 0, 1]);
    assert.deepEqual(out[UNET_OUTPUT].dims, want.dims);
    const d = maxAbsDiff(out[UNET_OUTPUT].data as Float32Array, want.data as Float32Array);
    assert.ok(d <= atol, `batch of 3: max_abs ${d} > ${atol}`);

    // Non-square 8x24 latents, batch 3, different timesteps per row: each row equals that row run alone.
    const cfg = net.config;
    const B = 3, H = 8, W = 24;
    const feeds = {
      sample: randomArray([B, cfg.inChannels, H, W], 1),
      encoder_hidden_states: randomArray([B, 77, cfg.encoderHidDim], 2),
      text_embeds: randomArray([B, cfg.crossAttentionDim], 3),
      image_embeds: randomArray([B, cfg.crossAttentionDim], 4),
      timestep: { data: Float32Array.of(999, 501, 1), dims: [3] },
    };
    const all = await s.run(feeds);
    assert.deepEqual(all[UNET_OUTPUT].dims, [B, cfg.outChannels, H, W]);
    const allData = all[UNET_OUTPUT].data as Float32Array;
    assert.ok(allData.every(Number.isFinite));
    const rowLen = allData.length / B;
    for (let r = 0; r < B; r++) {
      const one: Record<string, HostArray> = {};
      for (const [k, v] of Object.entries(feeds)) one[k] = pickRows(v.data as Float32Array, [...v.dims], [r]);
      const o = await s.run(one);
      const d1 = maxAbsDiff(o[UNET_OUTPUT].data as Float32Array, allData.subarray(r * rowLen, (r + 1) * rowLen));
      assert.ok(d1 <= 1e-5, `row ${r} alone differs by ${d1}`);
    }
    // The timesteps matter (a test of the per-row input, not of a constant).
    assert.ok(maxAbsDiff(allData.subarray(0, rowLen), allData.subarray(rowLen, 2 * rowLen)) > 1e-3);
  } finally {
    await s.release();
  }
});

test("full-size decoder and inpaint UNets have the published parameter count (~1.22B)", () => {
  const counts: Record<string, number> = {};
  const cfgs: Record<string, ReturnType<typeof parseUNetConfig>> = {};
  for (const k of ["decoder", "inpaint"]) {
    const net = buildNetwork(UNetSpec, { dir: join(FIXTURES, "full-configs", k, "unet"), weights: false }, undefined);
    counts[k] = net.graph.parameterCount;
    cfgs[k] = net.config;
    console.log(`${k} UNet: ${counts[k].toLocaleString("en")} parameters`);
    assert.ok(Math.abs(counts[k] / 1.22e9 - 1) < 0.01, `${k}: ${counts[k]}`);
  }
  // The inpaint UNet differs only in conv_in's input channels.
  const extra = (cfgs.inpaint.inChannels - cfgs.decoder.inChannels) * cfgs.decoder.blockOutChannels[0] * cfgs.decoder.convInKernel ** 2;
  assert.equal(counts.inpaint - counts.decoder, extra);
});

test("every checkpoint tensor is used once and no parameter is invented", () => {
  for (const k of ["decoder", "inpaint"]) {
    const dir = join(TINY, k, "unet");
    const ckpt = new Checkpoint(dir);
    const graph = new Graph("unet");
    const store = new WeightStore(graph, ckpt, DEFAULT_BUILD);
    UNetSpec.build(store.root(), UNetSpec.parseConfig(readConfig(dir)), undefined);
    const keys = [...ckpt.tensors.keys()];
    assert.deepEqual(keys.filter((x) => !store.used.has(x)), [], `${k}: unused checkpoint tensors`);
    assert.equal(store.used.size, keys.length);
    const total = [...ckpt.tensors.values()].reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
    assert.equal(graph.parameterCount, total);
  }
});

test("configs outside the implemented family are rejected by key and value", () => {
  const base = readConfig(join(TINY, "decoder/unet"));
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ down_block_types: ["CrossAttnDownBlock2D", ...base.down_block_types.slice(1)] }, /down_block_types = "CrossAttnDownBlock2D"/],
    [{ up_block_types: base.up_block_types.slice(1) }, /up_block_types/],
    [{ mid_block_type: "UNetMidBlock2DCrossAttn" }, /mid_block_type = "UNetMidBlock2DCrossAttn"/],
    [{ addition_embed_type: "text" }, /addition_embed_type = "text"/],
    [{ encoder_hid_dim_type: null }, /encoder_hid_dim_type = null/],
    [{ cross_attention_norm: "group_norm" }, /cross_attention_norm/],
    [{ attention_head_dim: 7 }, /attention_head_dim = 7/],
    [{ resnet_time_scale_shift: "ada_group" }, /resnet_time_scale_shift = "ada_group"/],
  ];
  assert.doesNotThrow(() => parseUNetConfig(base));
  for (const [patch, msg] of bad) assert.throws(() => parseUNetConfig({ ...base, ...patch }), msg);
});

test("zero-padded conv channels (the GPU builds' workaround) leave the inpainting UNet's result unchanged", async () => {
  const { runParity } = await import("../src/parity/run.js");
  const lines = [];
  for await (const l of runParity(TINY, { only: ["unet_inpaint."], build: { compute: "float32", attention: "fused", padConvChannels: true }, session: {} })) lines.push(l);
  assert.equal(lines.length, 1);
  assert.equal(lines[0].result.status, "PASS", lines[0].result.detail);
  // The 9-channel conv_in is padded (input and weight), and only it.
  const net = buildNetwork(UNetSpec, { dir: join(TINY, "inpaint/unet") }, undefined, { ...DEFAULT_BUILD, padConvChannels: true });
  let pads = 0;
  net.graph.forEachNode((n) => { if (n.opType === "Pad") pads++; });
  assert.equal(pads, 2);
});
