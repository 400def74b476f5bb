import { test } from "node:test";
import assert from "node:assert/strict";
import { CaseSet, maxAbsDiff } from "../src/parity/cases.js";
import { runPriorCase } from "../src/parity/prior.js";
import { formatResult } from "../src/parity/report.js";
import { buildNetwork, openSession } from "../src/models/network.js";
import { PriorSpec, priorConfig, readClipStats, postProcessLatents } from "../src/models/prior.js";
import { Graph } from "../src/runtime/graph.js";
import { Checkpoint } from "../src/weights/checkpoint.js";
import { readConfig } from "../src/weights/config.js";
import { WeightStore } from "../src/weights/weight-view.js";
import { fixture } from "./fixtures.js";

const tiny = fixture("tiny-a");
const full = fixture("full-configs");
const set = new CaseSet(tiny);
const CASES = ["prior.forward_t999", "prior.forward_t37", "prior.post_process_latents"];

for (const attention of ["fused", "plain"] as const) {
  test(`prior cases match the reference (${attention} attention)`, async () => {
    for (const id of CASES) {
      const c = set.get(id);
      const r = await runPriorCase(set, c, { build: { compute: "float32", attention }, session: {} });
      console.log(`${attention}: ${formatResult(id, r)}`);
      assert.equal(r.status, "PASS", `${id}: ${r.detail}`);
      assert.ok(r.maxAbs! <= c.suggested_tolerance!.atol, id);
    }
  });
}

test("batch of 3 mixing both cases, one timestep per row", async () => {
  const [a, b] = [set.get("prior.forward_t999"), set.get("prior.forward_t37")];
  // Rows: t999 row 1, t37 row 0, t999 row 0.
  const rows = [[a, 1], [b, 0], [a, 0]] as const;
  const stack = (name: string, from: "inputs" | "outputs") => {
    const parts = rows.map(([c, r]) => {
      const t = set.tensor(c[from][name]);
      const n = t.data.length / t.shape[0];
      return { data: t.data.subarray(r * n, (r + 1) * n), shape: t.shape };
    });
    const data = new Float32Array(parts.reduce((s, p) => s + p.data.length, 0));
    parts.reduce((o, p) => (data.set(p.data, o), o + p.data.length), 0);
    return { data, dims: [rows.length, ...parts[0].shape.slice(1)] };
  };
  const net = buildNetwork(PriorSpec, { dir: `${tiny}/prior/prior` }, undefined);
  const s = await openSession(net);
  try {
    const mask = stack("attention_mask", "inputs");
    const out = await s.run({
      hidden_states: stack("hidden_states", "inputs"),
      proj_embedding: stack("proj_embedding", "inputs"),
      encoder_hidden_states: stack("encoder_hidden_states", "inputs"),
      attention_mask: { data: Uint8Array.from(mask.data), dims: mask.dims },
      timestep: { data: BigInt64Array.from(rows, ([c]) => BigInt(c.params.timestep)), dims: [rows.length] },
    });
    const ref = stack("predicted_image_embedding", "outputs");
    assert.deepEqual(out.predicted_image_embedding.dims, ref.dims);
    const d = maxAbsDiff(out.predicted_image_embedding.data as Float32Array, ref.data);
    assert.ok(d <= a.suggested_tolerance!.atol, `max_abs ${d}`);
  } finally {
    await s.release();
  }
});

test("the tiny build uses every checkpoint tensor; clip_mean/clip_std are read on the host", () => {
  const dir = `${tiny}/prior/prior`;
  const ckpt = new Checkpoint(dir);
  const cfg = priorConfig(readConfig(dir));
  const store = new WeightStore(new Graph(), ckpt, { compute: "float32", attention: "fused" });
  PriorSpec.build(store.root(), cfg, undefined);
  const unused = [...ckpt.tensors.keys()].filter((k) => !store.used.has(k));
  assert.deepEqual(unused.sort(), ["clip_mean", "clip_std"]);
  const stats = readClipStats(ckpt);
  assert.equal(stats.mean.length, cfg.clipEmbedDim);
  assert.equal(stats.std.length, cfg.clipEmbedDim);
  assert.throws(() => postProcessLatents(stats, { data: new Float32Array(cfg.clipEmbedDim + 1), shape: [1, cfg.clipEmbedDim + 1] }), /not rows of/);
});

// Full-size prior (config: 32 heads x 64 = inner 2048, embedding_dim 768, 20 layers, 77 + 4 tokens):
// time_embedding 2 x (2048*2048 + 2048) = 8,392,704; proj_in, embedding_proj, encoder_hidden_states_proj
// 3 x (768*2048 + 2048) = 4,724,736; positional_embedding 81*2048 = 165,888; prd_embedding 2048;
// per block: norm1 + norm3 2 x 4096, q/k/v/out 4 x (2048*2048 + 2048), ff 2048->8192->2048
// (8192*2048 + 8192) + (2048*8192 + 2048) = 50,358,272, x20 = 1,007,165,440;
// norm_out 4096; proj_to_clip_embeddings 2048*768 + 768 = 1,573,632. The checkpoint adds clip_mean, clip_std (2 x 768).
const FULL_GRAPH = 8_392_704 + 4_724_736 + 165_888 + 2048 + 1_007_165_440 + 4096 + 1_573_632;
const FULL_CHECKPOINT = FULL_GRAPH + 2 * 768;

test("full-size prior has the real checkpoint's parameters but clip_mean/clip_std", () => {
  const net = buildNetwork(PriorSpec, { dir: `${full}/prior/prior`, weights: false }, undefined);
  assert.equal(net.graph.parameterCount, FULL_GRAPH);
  assert.equal(FULL_CHECKPOINT, 1_022_030_080);
  assert.ok(Math.abs(net.graph.parameterCount - FULL_CHECKPOINT) / FULL_CHECKPOINT < 0.02);
});

test("config: defaults, optional dimensions, clear errors for unsupported branches", () => {
  const raw = readConfig(`${full}/prior/prior`);
  assert.deepEqual(priorConfig({}), priorConfig(raw));
  const dims = priorConfig({ ...raw, time_embed_dim: 1024, embedding_proj_dim: 512, clip_embed_dim: 640 });
  assert.deepEqual([dims.timeEmbedDim, dims.embeddingProjDim, dims.clipEmbedDim], [1024, 512, 640]);
  const net = buildNetwork(PriorSpec, { dir: "", weights: false, config: { ...raw, clip_embed_dim: 640 } }, undefined);
  assert.equal(net.graph.parameterCount, FULL_GRAPH - (2048 * 768 + 768) + (2048 * 640 + 640));
  for (const [key, value] of [["norm_in_type", "layer"], ["embedding_proj_norm_type", "layer"], ["encoder_hid_proj_type", null],
    ["added_emb_type", null], ["additional_embeddings", 5]] as const) {
    assert.throws(() => priorConfig({ ...raw, [key]: value }), new RegExp(`${key} ${JSON.stringify(value)} is not supported`));
  }
});

test("float16 compute runs and stays close (float16 rounding)", async () => {
  const c = set.get("prior.forward_t999");
  const r = await runPriorCase(set, c, { build: { compute: "float16", attention: "fused" }, session: {} });
  assert.ok(r.maxAbs! < 1e-2, formatResult(c.id, r));
});
