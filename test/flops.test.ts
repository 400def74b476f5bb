import { test } from "node:test";
import assert from "node:assert/strict";
import { Graph } from "../src/runtime/graph.js";
import { countFlops } from "../src/runtime/flops.js";
import { buildNetwork } from "../src/models/network.js";
import { UNetSpec } from "../src/models/unet/unet.js";
import { fixture } from "./fixtures.js";

const FULL = fixture("full-configs");

/** A small graph with symbolic dims, resolved through Shape/Concat/Reshape chains as our networks build them. */
function tinyGraph(): Graph {
  const g = new Graph("tiny");
  const x = g.input("x", "float32", ["batch", 3, "h", "w"]);
  const enc = g.input("enc", "float32", ["batch", "tokens", 8]);
  // Conv 3→4, 3x3, pad 1: [B, 4, H, W].
  const c = g.op1("Conv", [x, g.placeholder("w", "float32", [4, 3, 3, 3])], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
  // Tokens [B, H*W, 4] via a runtime shape: Concat(Shape(c)[0:2], [-1]).
  const t = c.reshape(g.concat([c.shape(0, 2), g.constInt64([-1])], 0)).transpose([0, 2, 1]);
  // Gemm on the flattened tokens: [B*H*W, 4] x [8, 4]^T.
  const q = g.op1("Gemm", [t.reshape([-1, 4]), g.placeholder("wq", "float32", [8, 4])], { transB: 1 })
    .reshape(g.concat([t.shape(0, 2), g.constInt64([8])], 0));
  // MatMul [B, H*W, 4] x [4, 6].
  g.output(t.matmul(g.placeholder("wm", "float32", [4, 6])), "m");
  // Attention of the H*W queries over the encoder tokens, 2 heads.
  g.output(g.op1("MultiHeadAttention", [q, enc, enc], { num_heads: 2 }, "float32", "com.microsoft"), "a");
  return g;
}

test("counts Conv, Gemm, MatMul and MultiHeadAttention at 2 FLOPs per multiply-add", () => {
  const f = countFlops(tinyGraph(), { x: [2, 3, 8, 8], enc: [2, 10, 8] });
  const conv = 2 * (2 * 4 * 8 * 8) * (3 * 3 * 3); // outputs x (Cin * kh * kw)
  const gemm = 2 * (2 * 64) * 8 * 4;
  const matmul = 2 * (2 * 64) * 6 * 4;
  const mha = 2 * (2 * 64 * 10 * 8) * 2; // Q K^T and P V, summed over the heads (8 = 2 heads x 4)
  assert.deepEqual(f.byOp, { Conv: conv, Gemm: gemm, MatMul: matmul, MultiHeadAttention: mha });
  assert.equal(f.total, conv + gemm + matmul + mha);
});

test("scales with the input sizes it is given", () => {
  const small = countFlops(tinyGraph(), { x: [1, 3, 8, 8], enc: [1, 10, 8] }).byOp.Conv;
  const big = countFlops(tinyGraph(), { x: [1, 3, 16, 8], enc: [1, 10, 8] }).byOp.Conv;
  assert.equal(big, 2 * small);
});

test("strided convolutions count their output positions", () => {
  const g = new Graph("strided");
  const x = g.input("x", "float32", [1, 2, 9, 9]);
  // 3x3 stride 2, pads [0, 0, 1, 1]: floor((9 + 1 - 3) / 2) + 1 = 4 per axis.
  const y = g.op1("Conv", [x, g.placeholder("w", "float32", [5, 2, 3, 3])], { kernel_shape: [3, 3], strides: [2, 2], pads: [0, 0, 1, 1] });
  g.output(y, "y");
  assert.equal(countFlops(g, {}).total, 2 * (5 * 4 * 4) * (2 * 9));
});

test("a symbolic input without a given shape is an error naming it", () => {
  assert.throws(() => countFlops(tinyGraph(), { x: [1, 3, 8, 8] }), /input "enc" has symbolic dims/);
});

test("the full-size UNet step at 512x512, batch 2, matches diffusers' measured 1,725 GFLOP", () => {
  // Shape-only graph from the real config (no weights); the reference figure was measured on diffusers.
  const net = buildNetwork(UNetSpec, { dir: `${FULL}/decoder/unet`, weights: false }, undefined);
  const c = net.config;
  const f = countFlops(net.graph, {
    sample: [2, c.inChannels, 64, 64], timestep: [1], encoder_hidden_states: [2, 77, c.encoderHidDim],
    text_embeds: [2, c.crossAttentionDim], image_embeds: [2, c.crossAttentionDim],
  });
  assert.ok(Math.abs(f.total / 1e9 - 1725) < 1, `${f.total / 1e9} GFLOP`);
  assert.ok(Math.abs(f.byOp.Conv / 1e9 - 1530) < 1, `conv ${f.byOp.Conv / 1e9} GFLOP`);
});
