#!/usr/bin/env node
// node dist/bench/int8-ops.js [conv|linear] [--profile]
//
// The measurements behind the int8 path's choice of ops (runtime/int8.ts): UNet-sized convolutions and
// attention-sized linear layers, fp32 against the int8 forms ORT offers, each fastest of 5 runs after a warm-up,
// with its relative error against fp32 on Gaussian inputs. Weights are per-output-channel symmetric int8 in every
// form; the forms differ in how activations are quantized and which op computes.
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Graph, type Value } from "../src/runtime/graph.js";
import { Session, type HostArray } from "../src/runtime/session.js";
import { quantizeRows } from "../src/runtime/int8.js";
import { relativeError } from "../src/runtime/compare.js";
import { opTimes } from "./profile.js";

const PROFILE = process.argv.includes("--profile");
const RUNS = 5;

function gauss(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const u = () => {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    return ((s >>> 0) + 0.5) / 4294967296;
  };
  return Float32Array.from({ length: n }, () => scale * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

async function time(g: Graph, feeds: Record<string, HostArray>): Promise<{ ms: number; out: Float32Array }> {
  const prefix = PROFILE ? join(tmpdir(), `int8-ops-${process.pid}-`) : undefined;
  const s = await Session.create(g, { profile: prefix });
  let out = (await s.run(feeds)).y.data as Float32Array;
  let ms = Infinity;
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    out = (await s.run(feeds)).y.data as Float32Array;
    ms = Math.min(ms, performance.now() - t);
  }
  if (prefix) {
    s.endProfiling();
    console.log("    kernels:", Object.entries(opTimes(prefix)).map(([k, v]) => `${k} ${v.toFixed(2)} ms`).join(", "));
  }
  await s.release();
  return { ms, out };
}

type Form = [string, (g: Graph, x: Value) => Value];

async function compare(what: string, dims: number[], flops: number, forms: Form[]): Promise<void> {
  const feeds = { x: { data: gauss(dims.reduce((a, b) => a * b, 1), 1), dims } };
  let ref: { ms: number; out: Float32Array } | undefined;
  for (const [name, form] of forms) {
    const g = new Graph(name);
    g.output(form(g, g.input("x", "float32", dims)), "y");
    try {
      const r = await time(g, feeds);
      ref ??= r;
      const err = r === ref ? "" : `, x${(ref.ms / r.ms).toFixed(2)} fp32's speed, rel. error ${relativeError(r.out, ref.out).toExponential(2)}`;
      console.log(`${what} ${name}: ${r.ms.toFixed(2)} ms, ${(flops / r.ms / 1e6).toFixed(0)} GFLOP/s${err}`);
    } catch (e) {
      console.log(`${what} ${name}: ${(e as Error).message.split("\n")[0]}`);
    }
  }
}

const dql = (g: Graph, x: Value) => g.op("DynamicQuantizeLinear", [x], {}, { outputs: 3, elem: ["uint8", "float32", "uint8"] });

async function conv(C: number, B: number, H: number, k: number): Promise<void> {
  const w = gauss(C * C * k * k, 2, 1 / Math.sqrt(C * k * k));
  const bias = gauss(C, 3, 0.1);
  const attrs = { kernel_shape: [k, k], pads: new Array(4).fill((k - 1) >> 1), strides: [1, 1] };
  const { q, scale } = quantizeRows(w, C);
  // Ranges for the static forms, as a calibration would find them: x ~ N(0, 1) and y ~ N(0, 1) (the weights' variance
  // is 1 / fan-in) stay within these over the 3M-odd values of a run.
  const ymax = 5.7, xmax = 5;
  const wq = (g: Graph) => g.constTensor("int8", [C, C, k, k], q);
  const ws = (g: Graph) => g.constTensor("float32", [C], scale);
  const zeros = (g: Graph) => g.constTensor("int8", [C], new Array(C).fill(0));
  const qconv = (g: Graph, xq: Value, xs: Value, xz: Value, ys: Value, yz: Value, elem: "uint8" | "int8", b?: Value) =>
    g.op1("DequantizeLinear", [g.op1("QLinearConv", [xq, xs, xz, wq(g), ws(g), zeros(g), ys, yz, b ?? null], attrs, elem), ys, yz], {}, "float32");
  await compare(`conv ${k}x${k} ${C}ch ${B}x${H}x${H}`, [B, C, H, H], 2 * B * C * C * k * k * H * H, [
    ["fp32 Conv", (g, x) => g.op1("Conv", [x, g.constTensor("float32", [C, C, k, k], w), g.constTensor("float32", [C], bias)], attrs)],
    ["QLinearConv, uint8 x from DynamicQuantizeLinear, y scale = x scale * ratio, int32 bias (ours)", (g, x) => {
      const [xq, xs, xz] = dql(g, x);
      const ys = xs.mul(ymax / xmax);  // (2 ymax / 255) / (2 xmax / 255)
      const b = g.op1("Round", [g.constTensor("float32", [C], bias).div(xs.mul(ws(g)))]).cast("int32");
      return qconv(g, xq, xs, xz, ys, g.constTensor("uint8", [], [128]), "uint8", b);
    }],
    ["QLinearConv, uint8 x from QuantizeLinear (static scale)", (g, x) => {
      const xs = g.constTensor("float32", [], [(2 * xmax) / 255]), xz = g.constTensor("uint8", [], [128]);
      const xq = g.op1("QuantizeLinear", [x, xs, xz], {}, "uint8");
      return qconv(g, xq, xs, xz, g.constTensor("float32", [], [(2 * ymax) / 255]), xz, "uint8").add(g.constTensor("float32", [C, 1, 1], bias));
    }],
    ["QLinearConv, int8 x (static scale)", (g, x) => {
      const xs = g.constTensor("float32", [], [xmax / 127]), xz = g.constTensor("int8", [], [0]);
      const xq = g.op1("QuantizeLinear", [x, xs, xz], {}, "int8");
      return qconv(g, xq, xs, xz, g.constTensor("float32", [], [ymax / 127]), xz, "int8").add(g.constTensor("float32", [C, 1, 1], bias));
    }],
    ["ConvInteger, uint8 x from DynamicQuantizeLinear", (g, x) => {
      const [xq, xs, xz] = dql(g, x);
      const y = g.op1("ConvInteger", [xq, wq(g), xz, g.constTensor("int8", [], [0])], attrs, "int32");
      return y.cast("float32").mul(xs).mul(g.constTensor("float32", [C, 1, 1], scale)).add(g.constTensor("float32", [C, 1, 1], bias));
    }],
  ]);
}

async function linear(M: number, K: number, N: number): Promise<void> {
  const w = gauss(N * K, 5, 1 / Math.sqrt(K));
  const bias = gauss(N, 6, 0.1);
  const { q, scale } = quantizeRows(w, N, true);
  const wq = (g: Graph) => g.constTensor("int8", [K, N], q);
  await compare(`linear ${M}x${K} @ ${K}x${N}`, [M, K], 2 * M * K * N, [
    ["fp32 Gemm", (g, x) => g.op1("Gemm", [x, g.constTensor("float32", [N, K], w), g.constTensor("float32", [N], bias)], { transB: 1 })],
    ["DynamicQuantizeMatMul (ours)", (g, x) => g.op1("DynamicQuantizeMatMul", [x, wq(g), g.constTensor("float32", [N], scale),
      g.constTensor("int8", [N], new Array(N).fill(0)), g.constTensor("float32", [N], bias)], {}, "float32", "com.microsoft")],
    ["DynamicQuantizeLinear + MatMulInteger + Cast + Mul", (g, x) => {
      const [xq, xs, xz] = dql(g, x);
      const y = g.op1("MatMulInteger", [xq, wq(g), xz, g.constTensor("int8", [N], new Array(N).fill(0))], {}, "int32");
      return y.cast("float32").mul(xs).mul(g.constTensor("float32", [N], scale)).add(g.constTensor("float32", [N], bias));
    }],
  ]);
}

const which = process.argv[2] ?? "all";
if (which === "all" || which === "conv") {
  await conv(384, 2, 64, 3);
  await conv(768, 2, 32, 3);
  await conv(1536, 2, 8, 3);
  await conv(384, 2, 64, 1);
}
if (which === "all" || which === "linear") {
  await linear(2 * 1024, 768, 768);
  await linear(2 * 4096, 384, 384);
  await linear(2 * 87, 768, 768);
}
