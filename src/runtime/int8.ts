// The int8 path, as passes over a network's float32 graph (the network code itself is the same for every precision):
// - convolutions become QLinearConv: the input quantized to uint8 at run time (DynamicQuantizeLinear, per tensor),
//   int8 weights (per output channel, symmetric), the int32 bias rescaled at run time, a uint8 output whose scale is
//   the input's scale times a calibrated ratio, then dequantized to float32;
// - linear layers (Gemm with transB) become com.microsoft.DynamicQuantizeMatMul (uint8 input quantized at run time,
//   per-column int8 weights, float32 output: no calibration needed).
// Everything else (norms, attention, activations, the layers a network keeps in float) stays float32.
//
// Why these ops (measured, 2-core Sapphire Rapids, ORT 1.30; bench/int8-ops.ts): QLinearConv runs a 3x3 conv
// 384→384 on 2x64x64 4–9x faster than fp32 Conv; ConvInteger is 5x slower than fp32 and rejects per-channel zero
// points; QLinearConv with a static input scale (QuantizeLinear) or int8 activations is slower than with
// DynamicQuantizeLinear's uint8. QLinearConv needs its output scale before it runs: a ratio to the input's scale,
// calibrated per layer (the output range of a convolution scales with its input's), adapts it to each input.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Graph, InitRecord, NodeRecord, Value } from "./graph.js";
import { toFloat32, type DType } from "../weights/tensor-file.js";
import type { Elem } from "./onnx-schema.js";
import { cpuFlags, sessionKey } from "./session-cache.js";

/** Changes whenever the rewrite changes what a saved int8 session holds. */
export const INT8_VERSION = 2;

/** The calibration graph's extra output: [min x, max x, min y, max y] per convolution, in `probeKeys` order. */
export const RANGES_OUTPUT = "int8_ranges";

/** Which layers of a network stay float: those whose weight key matches. */
export interface Int8Policy {
  keepFloat: RegExp;
}

/** A convolution's calibrated output scale: y_scale = x_scale * ratio, y_zero_point = zero. */
export interface LayerRange {
  ratio: number;
  zero: number;
}

export type Ranges = Record<string, LayerRange>;

interface Layer {
  node: Readonly<NodeRecord>;
  kind: "conv" | "linear";
  /** The weight's checkpoint key. */
  key: string;
  weight: Readonly<InitRecord>;
}

const FLOAT_DTYPE: Partial<Record<Elem, DType>> = { float32: "F32", float16: "F16", bfloat16: "BF16" };

/** The checkpoint weight feeding input `i` of a node, directly or through a Cast (half-precision checkpoints). */
function weightOf(g: Graph, node: Readonly<NodeRecord>, i: number): Readonly<InitRecord> | undefined {
  let name = node.inputs[i];
  const cast = g.producer(name);
  if (cast) {
    if (cast.opType !== "Cast") return undefined;
    name = cast.inputs[0];
  }
  const w = g.initializer(name);
  return w?.param && w.hint && w.external && FLOAT_DTYPE[w.elem] ? w : undefined;
}

/** The layers of `g` that run in int8 under `policy`, in graph order. */
function layers(g: Graph, policy: Int8Policy): Layer[] {
  const out: Layer[] = [];
  g.forEachNode((node) => {
    const kind = node.opType === "Conv" ? "conv" : node.opType === "Gemm" ? "linear" : undefined;
    if (!kind) return;
    // Only plain linear layers: y = x W^T + b.
    if (kind === "linear" && (node.attrs.transB !== 1 || node.attrs.alpha !== undefined || node.attrs.beta !== undefined || node.attrs.transA)) return;
    if (kind === "conv" && node.attrs.group !== undefined && node.attrs.group !== 1) return;
    // 1x1 convolutions stay float: QLinearConv ran one (384 channels, 2x64x64) only 1.19x faster than fp32, its
    // quantize and dequantize passes costing about what the smaller GEMM saves.
    if (kind === "conv" && (node.attrs.kernel_shape as number[]).every((k) => k === 1)) return;
    const weight = weightOf(g, node, 1);
    if (!weight || policy.keepFloat.test(weight.hint!)) return;
    out.push({ node, kind, key: weight.hint!, weight });
  });
  return out;
}

/**
 * Calibration: adds the RANGES_OUTPUT output (the input and output range of every int8 convolution) to a float
 * graph; returns the convolutions' keys in the output's order.
 */
export function addRangeProbes(g: Graph, policy: Int8Policy): string[] {
  const convs = layers(g, policy).filter((l) => l.kind === "conv");
  const parts: Value[] = [];
  for (const { node } of convs) {
    for (const name of [node.inputs[0], node.outputs[0]]) {
      const v = g.value(name, "float32");
      for (const op of ["ReduceMin", "ReduceMax"]) parts.push(g.op1(op, [v], { keepdims: 0 }).reshape([1]));
    }
  }
  if (!parts.length) throw new Error(`graph "${g.name}" has no layers to calibrate`);
  g.output(g.concat(parts, 0), RANGES_OUTPUT);
  return convs.map((l) => l.key);
}

/**
 * Each convolution's output scale from calibration runs (RANGES_OUTPUT of each): the smallest ratio and zero point
 * that keep every observed output inside the uint8 range, relative to DynamicQuantizeLinear's input scale
 * (range of [min(x, 0), max(x, 0)] / 255).
 */
export function rangesFromRuns(keys: string[], runs: ArrayLike<number>[]): Ranges {
  const ranges: Ranges = {};
  keys.forEach((key, l) => {
    let up = 0, down = 0;
    for (const r of runs) {
      const [xmin, xmax, ymin, ymax] = [r[4 * l], r[4 * l + 1], r[4 * l + 2], r[4 * l + 3]];
      const xr = Math.max(xmax, 0) - Math.min(xmin, 0);
      if (!(xr > 0)) continue;
      up = Math.max(up, Math.max(ymax, 0) / xr);
      down = Math.max(down, Math.max(-ymin, 0) / xr);
    }
    // ratio = y_scale / x_scale = (up + down) (xr / 255) / (xr / 255).
    ranges[key] = up + down > 0 ? { ratio: up + down, zero: Math.round((255 * down) / (up + down)) } : { ratio: 1, zero: 128 };
  });
  return ranges;
}

/** float32 values of a weight. */
function weightValues(g: Graph, w: Readonly<InitRecord>): Float32Array {
  const bytes = Buffer.from(g.readExternal(w.name));
  if (w.elem === "float32" && bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return toFloat32(bytes, FLOAT_DTYPE[w.elem]!);
}

/**
 * The largest weight magnitude. x86 CPUs without VNNI multiply uint8 by int8 in pairs summed to int16, which
 * saturates for 8-bit weights (255 * 127 * 2 > 32767): there, as ORT's own quantizer does, weights get 7 bits.
 */
export function weightLimit(): number {
  const x86 = process.arch === "x64" || process.arch === "ia32";
  return x86 && !cpuFlags().some((f) => f.includes("vnni") || f.startsWith("amx")) ? 63 : 127;
}

/**
 * Symmetric per-row int8: row r of `w` (rows x cols, row-major) is round(w / s_r), s_r = max |w_r| / limit.
 * `transpose` writes the result column-major (cols x rows), as MatMul wants a linear layer's weight.
 */
export function quantizeRows(w: Float32Array, rows: number, transpose = false, limit = 127): { q: Int8Array; scale: Float32Array } {
  const cols = w.length / rows;
  const q = new Int8Array(w.length);
  const scale = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let m = 0;
    for (let c = 0; c < cols; c++) m = Math.max(m, Math.abs(w[base + c]));
    const s = m > 0 ? m / limit : 1;
    scale[r] = s;
    const inv = 1 / s;
    if (transpose) for (let c = 0; c < cols; c++) q[c * rows + r] = Math.round(w[base + c] * inv);
    else for (let c = 0; c < cols; c++) q[base + c] = Math.round(w[base + c] * inv);
  }
  return { q, scale };
}

const bytesOf = (a: Int8Array | Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** The largest int32 magnitude a float32 reaches below 2^31. */
const INT32_LIMIT = 2147483520;

/**
 * Rewrites `g` for int8 (see the top of this file): every layer `policy` does not keep float, with the convolutions'
 * output scales from `ranges`. The quantized weights are held in memory, and so are the remaining float weights
 * (ONNX Runtime takes in-memory external data or a folder, not both): the session is meant to be saved
 * (session-cache.ts), after which it loads without this pass.
 */
export function quantizeGraph(g: Graph, policy: Int8Policy, ranges: Ranges): void {
  const limit = weightLimit();
  for (const l of layers(g, policy)) {
    const w = weightValues(g, l.weight);
    const dims = l.weight.dims;
    const out = dims[0];
    const x = g.value(l.node.inputs[0], "float32");
    const bias = l.node.inputs[2] ? g.value(l.node.inputs[2], "float32") : undefined;
    if (l.kind === "linear") {
      const { q, scale } = quantizeRows(w, out, true, limit);
      const wq = g.memoryTensor(`${l.key}.int8`, "int8", [dims[1], out], bytesOf(q));
      g.replaceNode(l.node, () => [g.op1("DynamicQuantizeMatMul", [x, wq, g.memoryTensor(`${l.key}.scale`, "float32", [out], bytesOf(scale)),
        g.constTensor("int8", [out], new Array(out).fill(0)), bias ?? null], {}, "float32", "com.microsoft")]);
      continue;
    }
    const range = ranges[l.key];
    if (!range) throw new Error(`int8: no calibrated range for "${l.key}" (recalibrate)`);
    const { q, scale } = quantizeRows(w, out, false, limit);
    const wq = g.memoryTensor(`${l.key}.int8`, "int8", dims, bytesOf(q));
    g.replaceNode(l.node, () => {
      const [xq, xs0, xz] = g.op("DynamicQuantizeLinear", [x], {}, { outputs: 3, elem: ["uint8", "float32", "uint8"] });
      // A constant input has scale 0: keep the scales finite (its output is then 0, not the bias).
      const xs = g.op1("Max", [xs0, g.constTensor("float32", [], [1e-30])]);
      const ws = g.memoryTensor(`${l.key}.scale`, "float32", [out], bytesOf(scale));
      const ys = xs.mul(range.ratio);
      const yz = g.constTensor("uint8", [], [range.zero]);
      const ins = [xq, xs, xz, wq, ws, g.constTensor("int8", [out], new Array(out).fill(0)), ys, yz];
      if (bias) {
        // QLinearConv's bias is int32 in units of x_scale * w_scale; x_scale is known at run time only.
        const b = g.op1("Round", [bias.div(xs.mul(ws))]);
        ins.push(g.op1("Clip", [b, g.constTensor("float32", [], [-INT32_LIMIT]), g.constTensor("float32", [], [INT32_LIMIT])]).cast("int32"));
      }
      const y = g.op1("QLinearConv", ins, { ...l.node.attrs }, "uint8");
      return [g.op1("DequantizeLinear", [y, ys, yz], {}, "float32")];
    });
  }
  g.pruneInitializers();
  g.loadExternal();
}

/**
 * Where the calibrated ranges of a network are kept: named by the float graph's content key (see session-cache.ts)
 * and the calibration `recipe` (what it was run on), under our cache folder `root`.
 */
export function rangesFile(graph: Graph, recipe: string, root: string): string {
  return join(root, "calibration", `${graph.name}-${sessionKey(graph, { calibration: recipe })}.json`);
}

export function readRanges(file: string): Ranges | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Ranges;
  } catch {
    return undefined;
  }
}

export function writeRanges(file: string, ranges: Ranges): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(ranges));
  renameSync(tmp, file);
}

/** What an int8 session's saved form depends on besides the float graph. */
export function int8CacheExtra(ranges: Ranges): Record<string, unknown> {
  return { precision: "int8", int8: INT8_VERSION, ranges: createHash("sha256").update(JSON.stringify(ranges)).digest("hex") };
}
