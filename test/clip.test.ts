import { test } from "node:test";
import assert from "node:assert/strict";
import { runParity } from "../src/parity/run.js";
import { buildNetwork } from "../src/models/network.js";
import { ClipTextSpec, ClipVisionSpec } from "../src/models/clip.js";
import { Checkpoint } from "../src/weights/checkpoint.js";
import { fixture } from "./fixtures.js";

const tiny = fixture("tiny-a");
const full = fixture("full-configs");

for (const attention of ["fused", "plain"] as const) {
  test(`CLIP text and vision cases pass (${attention} attention)`, async () => {
    const lines = [];
    for await (const l of runParity(tiny, { only: ["clip_text.", "clip_vision."], build: { compute: "float32", attention }, session: {} })) lines.push(l);
    assert.equal(lines.length, 4);
    for (const l of lines) assert.equal(l.result.status, "PASS", `${l.id}: ${l.result.detail}`);
  });
}

test("tiny CLIP graphs use every checkpoint tensor", () => {
  for (const [spec, dir, variant] of [[ClipTextSpec, "prior/text_encoder", { withMask: true }], [ClipVisionSpec, "prior/image_encoder", undefined]] as const) {
    const net = buildNetwork(spec as any, { dir: `${tiny}/${dir}` }, variant);
    const ckpt = new Checkpoint(`${tiny}/${dir}`);
    let total = 0;
    for (const t of ckpt.tensors.values()) total += t.shape.reduce((a, b) => a * b, 1);
    assert.equal(net.graph.parameterCount, total, dir);
  }
});

test("full-size CLIP ViT-L/14 configs build with the published parameter counts", () => {
  const text = buildNetwork(ClipTextSpec, { dir: `${full}/prior/text_encoder`, weights: false }, { withMask: false });
  const vision = buildNetwork(ClipVisionSpec, { dir: `${full}/prior/image_encoder`, weights: false }, undefined);
  // CLIP ViT-L/14: text tower 123.65M incl. its 768x768 projection; vision tower 303.2M + 768x1024 projection.
  assert.equal(text.graph.parameterCount, 123_650_304);
  assert.equal(vision.graph.parameterCount, 303_966_208);
});
