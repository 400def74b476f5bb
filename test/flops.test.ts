import { test } from "node:test";
import assert from "node:assert/strict";
import { Graph } from "../src/runtime/graph.js";
import { countFlops } from "../src/runtime/flops.js";
import { join } from "node:path";
import { buildNetwork, type NetworkSpec } from "../src/models/network.js";
import { ClipTextSpec, ClipVisionSpec, type ClipEncoderConfig } from "../src/models/clip.js";
import { MClipSpec } from "../src/models/mclip.js";
import { MoVQDecodeSpec, MoVQEncodeSpec } from "../src/models/movq/movq.js";
import type { VQModelConfig } from "../src/models/movq/config.js";
import { PriorSpec } from "../src/models/prior.js";
import { UNetSpec } from "../src/models/unet/unet.js";
import type { BuildOptions } from "../src/weights/weight-view.js";
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

// Every network at full size, counted on its emitted graph, against the multiply-adds of the reference
// architecture (transformers' CLIP and XLM-R, diffusers' PriorTransformer and VQModel) written out from its
// config. These are exact: a count off by one layer, one token or one projection fails.

const TOKENS = 77;
const FUSED: BuildOptions = { compute: "float32", attention: "fused" };
const PLAIN: BuildOptions = { compute: "float32", attention: "plain" };

/** FLOPs of a shape-only full-size graph. */
function count<C, V>(spec: NetworkSpec<C, V>, component: string, variant: V, dims: (c: C) => Record<string, number[]>, build = FUSED) {
  const net = buildNetwork(spec, { dir: join(FULL, component), weights: false }, variant, build);
  return { flops: countFlops(net.graph, dims(net.config)).total, config: net.config };
}

/** Multiply-adds of `layers` transformer layers over `n` tokens (self-attention and MLP), per sequence. */
const encoderMacs = (n: number, c: Pick<ClipEncoderConfig, "hidden" | "intermediate" | "layers">) =>
  c.layers * (n * (4 * c.hidden ** 2 + 2 * c.hidden * c.intermediate) + 2 * n * n * c.hidden);

interface Case {
  name: string;
  /** The graph's FLOPs with the given build options. */
  flops(build: BuildOptions): number;
  /** 2 x the reference's multiply-adds. */
  reference: number;
}

function cases(): Case[] {
  const out: Case[] = [];
  const add = <C, V>(name: string, spec: NetworkSpec<C, V>, component: string, variant: V, dims: (c: C) => Record<string, number[]>, macs: (c: C) => number) => {
    const { config } = count(spec, component, variant, dims);
    out.push({ name, flops: (build) => count(spec, component, variant, dims, build).flops, reference: 2 * macs(config) });
  };
  const b = 2; // guided batch
  for (const withMask of [false, true]) {
    add(`CLIP text${withMask ? " with mask" : ""}, batch ${b}`, ClipTextSpec, "prior/text_encoder", { withMask },
      () => ({ input_ids: [b, TOKENS], attention_mask: [b, TOKENS] }),
      // Layers over every token; text_projection on the pooled (end-of-text) token of each row.
      (c) => b * (encoderMacs(TOKENS, c) + c.hidden * c.projection));
  }
  add("CLIP vision, batch 1", ClipVisionSpec, "prior/image_encoder", undefined,
    (c) => ({ pixel_values: [1, c.channels, c.imageSize, c.imageSize] }),
    (c) => {
      const patches = (c.imageSize / c.patchSize) ** 2;
      // Patch convolution, layers over the patches and the class token, visual_projection on the class token.
      return patches * c.hidden * c.channels * c.patchSize ** 2 + encoderMacs(patches + 1, c) + c.hidden * c.projection;
    });
  add(`PriorTransformer, batch ${b}`, PriorSpec, "prior/prior", undefined,
    (c) => ({ hidden_states: [b, c.embeddingDim], timestep: [1], proj_embedding: [b, c.embeddingProjDim],
      encoder_hidden_states: [b, c.numEmbeddings, c.embeddingDim], attention_mask: [b, c.numEmbeddings] }),
    (c) => {
      const d = c.heads * c.headDim;
      const n = c.numEmbeddings + 4; // the text tokens, then proj_embedding, time, hidden_states and prd tokens
      const perRow = c.embeddingDim * d + c.embeddingProjDim * d + c.numEmbeddings * c.embeddingDim * d // proj_in, embedding_proj, encoder_hidden_states_proj
        + d * c.timeEmbedDim + c.timeEmbedDim * d // time_embedding's two linears (the timestep broadcast to each row)
        + encoderMacs(n, { hidden: d, intermediate: 4 * d, layers: c.layers }) + d * c.clipEmbedDim; // blocks; proj_to_clip_embeddings on the prd token
      return b * perRow;
    });
  add(`MultilingualCLIP, batch ${b}`, MClipSpec, "decoder/text_encoder", undefined,
    () => ({ input_ids: [b, TOKENS], attention_mask: [b, TOKENS] }),
    // XLM-R's layers over every token, LinearTransformation on the masked mean (the pooler, which MultilingualCLIP
    // discards, is not built).
    (c) => b * (encoderMacs(TOKENS, c.encoder) + c.transformerDimensions * c.numDims));
  for (const px of [512, 768]) {
    for (const quantize of [false, true]) {
      add(`MoVQ decode ${px}x${px}${quantize ? ", quantized" : ""}`, MoVQDecodeSpec, "decoder/movq", { quantize },
        (c) => ({ latents: [1, c.vqEmbedDim, px / scale(c), px / scale(c)] }), (c) => movqDecodeMacs(c, px, quantize));
    }
    add(`MoVQ encode ${px}x${px}`, MoVQEncodeSpec, "decoder/movq", undefined, (c) => ({ image: [1, c.inChannels, px, px] }), (c) => movqEncodeMacs(c, px));
  }
  return out;
}

/** Pixels per latent along an axis: one halving per level but the last. */
const scale = (c: VQModelConfig) => 2 ** (c.blockOutChannels.length - 1);

/** k x k convolution multiply-adds at `p` output pixels. */
const conv = (p: number, cin: number, cout: number, k = 3) => p * cin * cout * k * k;
/** Self-attention over `p` pixels of `c` channels: q, k, v and out projections, and the two products (any head count). */
const attention = (p: number, c: number) => 4 * p * c * c + 2 * p * p * c;

/** diffusers' VQModel.decode (MoVQ: SpatialNorm conditioned on the quantized latents) to a px x px image. */
function movqDecodeMacs(c: VQModelConfig, px: number, quantize: boolean): number {
  let p = (px / scale(c)) ** 2;
  const zq = c.vqEmbedDim;
  const spatialNorm = (p: number, ch: number) => 2 * p * zq * ch; // conv_y and conv_b, 1x1 from the latents
  const resnet = (p: number, cin: number, cout: number) =>
    spatialNorm(p, cin) + conv(p, cin, cout) + spatialNorm(p, cout) + conv(p, cout, cout) + (cin === cout ? 0 : conv(p, cin, cout, 1));
  const attn = (p: number, ch: number) => spatialNorm(p, ch) + attention(p, ch);
  const channels = [...c.blockOutChannels].reverse();
  // The codebook distances, post_quant_conv, conv_in, then the mid block.
  let macs = (quantize ? p * zq * c.numVqEmbeddings : 0) + conv(p, zq, c.latentChannels, 1) + conv(p, c.latentChannels, channels[0]);
  macs += resnet(p, channels[0], channels[0]) + attn(p, channels[0]) + resnet(p, channels[0], channels[0]);
  let prev = channels[0];
  c.upBlockTypes.forEach((type, i) => {
    const ch = channels[i];
    for (let j = 0; j <= c.layersPerBlock; j++) {
      macs += resnet(p, j === 0 ? prev : ch, ch);
      if (type === "AttnUpDecoderBlock2D") macs += attn(p, ch);
    }
    if (i < channels.length - 1) macs += conv((p *= 4), ch, ch); // nearest 2x, then a 3x3 conv
    prev = ch;
  });
  return macs + spatialNorm(p, prev) + conv(p, prev, c.outChannels);
}

/** diffusers' VQModel.encode (GroupNorm resnets, then quant_conv) of a px x px image. */
function movqEncodeMacs(c: VQModelConfig, px: number): number {
  let p = px * px;
  const resnet = (p: number, cin: number, cout: number) => conv(p, cin, cout) + conv(p, cout, cout) + (cin === cout ? 0 : conv(p, cin, cout, 1));
  const channels = c.blockOutChannels;
  let macs = conv(p, c.inChannels, channels[0]);
  let prev = channels[0];
  c.downBlockTypes.forEach((type, i) => {
    const ch = channels[i];
    for (let j = 0; j < c.layersPerBlock; j++) {
      macs += resnet(p, j === 0 ? prev : ch, ch);
      if (type === "AttnDownEncoderBlock2D") macs += attention(p, ch);
    }
    if (i < channels.length - 1) macs += conv((p /= 4), ch, ch); // 3x3, stride 2
    prev = ch;
  });
  macs += resnet(p, prev, prev) + attention(p, prev) + resnet(p, prev, prev);
  return macs + conv(p, prev, c.latentChannels) + conv(p, c.latentChannels, c.vqEmbedDim, 1);
}

test("every network counts the reference architecture's FLOPs exactly, with fused or plain attention", () => {
  for (const c of cases()) {
    for (const build of [FUSED, PLAIN]) {
      const f = c.flops(build);
      assert.equal(f, c.reference, `${c.name} (${build.attention} attention): ${f / 1e9} GFLOP counted, the reference ${c.reference / 1e9}`);
    }
  }
});

test("the inpainting UNet counts its wider conv_in on top of the text-to-image UNet's FLOPs; plain attention counts the same", () => {
  const dims = (c: { inChannels: number; encoderHidDim: number; crossAttentionDim: number }) => ({
    sample: [2, c.inChannels, 64, 64], timestep: [1], encoder_hidden_states: [2, TOKENS, c.encoderHidDim],
    text_embeds: [2, c.crossAttentionDim], image_embeds: [2, c.crossAttentionDim],
  });
  const t2i = count(UNetSpec, "decoder/unet", undefined, dims);
  const inpaint = count(UNetSpec, "inpaint/unet", undefined, dims);
  const widened = 2 * conv(2 * 64 * 64, inpaint.config.inChannels - t2i.config.inChannels, inpaint.config.blockOutChannels[0]);
  assert.equal(inpaint.flops - t2i.flops, widened);
  assert.equal(count(UNetSpec, "decoder/unet", undefined, dims, PLAIN).flops, t2i.flops);
});
