import { test } from "node:test";
import assert from "node:assert/strict";
import { CaseSet, maxAbsDiff } from "../src/parity/cases.js";
import { runMClipCase } from "../src/parity/mclip.js";
import { formatResult } from "../src/parity/report.js";
import { buildNetwork, openSession } from "../src/models/network.js";
import { MClipSpec, mclipConfig } from "../src/models/mclip.js";
import { Graph } from "../src/runtime/graph.js";
import { Checkpoint } from "../src/weights/checkpoint.js";
import { readConfig } from "../src/weights/config.js";
import { WeightStore } from "../src/weights/weight-view.js";
import { fixture } from "./fixtures.js";

const tiny = fixture("tiny-a");
const full = fixture("full-configs");
const set = new CaseSet(tiny);

for (const attention of ["fused", "plain"] as const) {
  test(`mclip.basic matches the reference (${attention} attention)`, async () => {
    const c = set.get("mclip.basic");
    const r = await runMClipCase(set, c, { build: { compute: "float32", attention }, session: {} });
    console.log(`${attention}: ${formatResult(c.id, r)}`);
    assert.equal(r.status, "PASS", r.detail);
    assert.ok(r.maxAbs! <= c.suggested_tolerance!.atol);
  });
}

test("another batch size: rows [1, 0, 1] give the reference rows", async () => {
  const c = set.get("mclip.basic");
  const net = buildNetwork(MClipSpec, { dir: `${tiny}/${c.target}` }, undefined);
  const order = [1, 0, 1];
  const pick = (data: Float32Array, row: number) => order.flatMap((r) => Array.from(data.subarray(r * row, (r + 1) * row)));
  const [ids, mask] = [set.tensor(c.inputs.input_ids), set.tensor(c.inputs.attention_mask)];
  const len = ids.shape[1];
  const s = await openSession(net);
  try {
    const out = await s.run({
      input_ids: { data: BigInt64Array.from(pick(ids.data, len), (x) => BigInt(x)), dims: [3, len] },
      attention_mask: { data: BigInt64Array.from(pick(mask.data, len), (x) => BigInt(x)), dims: [3, len] },
    });
    const atol = c.suggested_tolerance!.atol;
    for (const name of ["text_embeds", "last_hidden_state"]) {
      const ref = set.tensor(c.outputs[name]);
      const row = ref.data.length / ref.shape[0];
      assert.deepEqual(out[name].dims, [3, ...ref.shape.slice(1)]);
      assert.ok(maxAbsDiff(out[name].data as Float32Array, pick(ref.data, row)) <= atol, name);
    }
  } finally {
    await s.release();
  }
});

test("the tiny build uses every checkpoint tensor but the unused pooler", () => {
  const dir = `${tiny}/decoder/text_encoder`;
  const ckpt = new Checkpoint(dir);
  const store = new WeightStore(new Graph(), ckpt, { compute: "float32", attention: "fused" });
  MClipSpec.build(store.root(), mclipConfig(readConfig(dir)), undefined);
  const unused = [...ckpt.tensors.keys()].filter((k) => !store.used.has(k));
  assert.deepEqual(unused.sort(), ["transformer.pooler.dense.bias", "transformer.pooler.dense.weight"]);
});

test("full-size text encoder (XLM-R large + projection) has the real checkpoint's parameters but the pooler", () => {
  const net = buildNetwork(MClipSpec, { dir: `${full}/decoder/text_encoder`, weights: false }, undefined);
  // From the config (hidden 1024, 24 layers, mlp 4096, vocab 250002, 514 positions, 1 token type, numDims 768):
  // embeddings 250002*1024 + 514*1024 + 1*1024 + LN 2*1024 = 256,531,456;
  // per layer 4*(1024*1024+1024) + (4096*1024+4096) + (1024*4096+1024) + 2 LN * 2048 = 12,596,224, x24 = 302,309,376;
  // LinearTransformation 1024*768 + 768 = 787,200. The real checkpoint also holds the pooler (1024*1024+1024 = 1,049,600).
  const graph = 256_531_456 + 302_309_376 + 787_200;
  const checkpoint = graph + 1_049_600;
  assert.equal(net.graph.parameterCount, graph);
  assert.equal(checkpoint, 560_677_632);
  assert.ok(Math.abs(net.graph.parameterCount - checkpoint) / checkpoint < 0.02);
});

test("config: both dimension spellings, and clear errors", () => {
  const raw = readConfig(`${full}/decoder/text_encoder`);
  const { transformerDimensions, numDims, ...legacy } = raw;
  assert.equal(mclipConfig(legacy).numDims, 768);
  assert.equal(mclipConfig({ ...raw, numDims: 640 }).numDims, 640);
  assert.throws(() => mclipConfig({ ...raw, transformerDimensions: 768 }), /transformerDimensions 768 differs from hidden_size 1024/);
  assert.throws(() => mclipConfig({ ...raw, position_embedding_type: "relative_key" }), /position_embedding_type "relative_key" is not supported/);
  // Without hidden_size, XLMRobertaConfig's default (768) no longer matches the projection's input.
  assert.throws(() => mclipConfig({ ...raw, hidden_size: undefined }), /transformerDimensions 1024 differs from hidden_size 768/);
});

test("float16 compute runs and stays close (masked scores stay finite)", async () => {
  const c = set.get("mclip.basic");
  const r = await runMClipCase(set, c, { build: { compute: "float16", attention: "fused" }, session: {} });
  assert.ok(r.maxAbs! < 2e-2, formatResult(c.id, r));
});
