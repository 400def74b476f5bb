// FLOPs of one run of an emitted graph for concrete input shapes: shapes are propagated through the graph's own
// nodes (small int64 shape tensors are evaluated on the way, as Shape → Gather → Concat → Reshape chains need),
// then Conv, MatMul, Gemm and MultiHeadAttention are counted at 2 FLOPs per multiply-add. Elementwise ops, norms
// and softmax are not counted: they are a few percent of the work and not what a GEMM peak measures.
import type { Graph } from "./graph.js";

export interface FlopCount {
  total: number;
  /** By op type (Conv, MatMul, Gemm, MultiHeadAttention). */
  byOp: Record<string, number>;
}

interface Info {
  shape: number[];
  /** Element values of small integer/float tensors whose values are known (shape arithmetic, constants). */
  values?: number[];
}

type Attrs = Readonly<Record<string, unknown>>;

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);
const norm = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

function broadcast(shapes: number[][]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  return Array.from({ length: rank }, (_, i) => {
    let d = 1;
    for (const s of shapes) {
      const x = s[i - (rank - s.length)] ?? 1;
      if (x !== 1) {
        if (d !== 1 && d !== x) throw new Error(`cannot broadcast [${shapes.map((s) => s.join(",")).join("] with [")}]`);
        d = x;
      }
    }
    return d;
  });
}

/** Output size of a pooling/conv window along one axis. */
function windowOut(size: number, k: number, stride: number, padBegin: number, padEnd: number, dilation = 1): number {
  return Math.floor((size + padBegin + padEnd - dilation * (k - 1) - 1) / stride) + 1;
}

function decode(elem: string, bytes: Uint8Array): number[] | undefined {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const read: Record<string, [number, (o: number) => number]> = {
    int64: [8, (o) => Number(dv.getBigInt64(o, true))],
    int32: [4, (o) => dv.getInt32(o, true)],
    float32: [4, (o) => dv.getFloat32(o, true)],
    float64: [8, (o) => dv.getFloat64(o, true)],
  };
  const r = read[elem];
  if (!r) return undefined;
  return Array.from({ length: bytes.byteLength / r[0] }, (_, i) => r[1](i * r[0]));
}

/** Elementwise arithmetic on known values (shape arithmetic), with broadcasting of scalars only. */
function arith(op: string, a?: number[], b?: number[]): number[] | undefined {
  if (!a || !b) return undefined;
  const n = Math.max(a.length, b.length);
  if ((a.length !== n && a.length !== 1) || (b.length !== n && b.length !== 1)) return undefined;
  const f: Record<string, (x: number, y: number) => number> = {
    Add: (x, y) => x + y, Sub: (x, y) => x - y, Mul: (x, y) => x * y, Div: (x, y) => Math.trunc(x / y),
  };
  return f[op] ? Array.from({ length: n }, (_, i) => f[op](a[a.length === 1 ? 0 : i], b[b.length === 1 ? 0 : i])) : undefined;
}

/** Shapes of a node's outputs (and their values when cheaply known). */
function infer(op: string, ins: (Info | undefined)[], attrs: Attrs, outputs: number): Info[] {
  const x = ins[0]!;
  const need = (i: number, what: string): number[] => {
    const v = ins[i]?.values;
    if (!v) throw new Error(`${op}: the ${what} (input ${i}) is not known before running the graph`);
    return v;
  };
  const attr = <T>(k: string, d: T): T => (attrs[k] === undefined ? d : (attrs[k] as T));
  switch (op) {
    case "Identity": case "Cast": return [{ ...x }];
    case "Neg": case "Exp": case "Sqrt": case "Sin": case "Cos": case "Sigmoid": case "Gelu": case "Relu": case "Erf":
    case "Tanh": case "Softmax": case "Not": case "CumSum": case "Trilu": case "LayerNormalization":
    case "InstanceNormalization": case "GroupNormalization":
      return [{ shape: [...x.shape] }];
    case "Add": case "Sub": case "Mul": case "Div": case "Pow": case "Equal": case "Less": case "Greater": case "And":
    case "Or": case "Max": case "Min":
      return [{ shape: broadcast([x.shape, ins[1]!.shape]), values: arith(op, x.values, ins[1]!.values) }];
    case "Where": return [{ shape: broadcast(ins.map((i) => i!.shape)) }];
    case "Shape": {
      const r = x.shape.length;
      const s = norm(attr("start", 0), r), e = attrs.end === undefined ? r : norm(attrs.end as number, r);
      const values = x.shape.slice(Math.max(0, s), Math.min(r, e));
      return [{ shape: [values.length], values }];
    }
    case "ConstantOfShape": return [{ shape: need(0, "shape") }];
    case "Reshape": {
      const target = need(1, "target shape");
      const shape = target.map((d, i) => (d === 0 ? x.shape[i] : d));
      const known = prod(shape.filter((d) => d !== -1));
      const out = shape.map((d) => (d === -1 ? prod(x.shape) / known : d));
      return [{ shape: out, values: x.values }];
    }
    case "Expand": return [{ shape: broadcast([x.shape, need(1, "shape")]) }];
    case "Unsqueeze": {
      const axes = need(1, "axes");
      const r = x.shape.length + axes.length;
      const ax = new Set(axes.map((a) => norm(a, r)));
      const shape: number[] = [];
      for (let i = 0, j = 0; i < r; i++) shape.push(ax.has(i) ? 1 : x.shape[j++]);
      return [{ shape, values: x.values }];
    }
    case "Squeeze": {
      const ax = new Set(need(1, "axes").map((a) => norm(a, x.shape.length)));
      return [{ shape: x.shape.filter((_, i) => !ax.has(i)), values: x.values }];
    }
    case "Transpose": {
      const perm = attr<number[]>("perm", x.shape.map((_, i) => x.shape.length - 1 - i));
      return [{ shape: perm.map((p) => x.shape[p]) }];
    }
    case "Concat": {
      const axis = norm(attrs.axis as number, x.shape.length);
      const shape = [...x.shape];
      shape[axis] = ins.reduce((a, i) => a + i!.shape[axis], 0);
      const vals = ins.map((i) => i!.values);
      return [{ shape, values: vals.every((v) => v) ? vals.flatMap((v) => v!) : undefined }];
    }
    case "Split": {
      const axis = norm(attr("axis", 0), x.shape.length);
      const sizes = ins[1] ? need(1, "split sizes") : new Array<number>(outputs).fill(x.shape[axis] / outputs);
      return sizes.map((s) => ({ shape: x.shape.map((d, i) => (i === axis ? s : d)) }));
    }
    case "Slice": {
      const starts = need(1, "starts"), ends = need(2, "ends");
      const r = x.shape.length;
      const axes = ins[3] ? need(3, "axes") : starts.map((_, i) => i);
      const steps = ins[4] ? need(4, "steps") : starts.map(() => 1);
      const shape = [...x.shape];
      let values = x.values;
      axes.forEach((a0, i) => {
        const a = norm(a0, r), d = x.shape[a], st = steps[i];
        if (st !== 1) throw new Error("Slice: only unit steps are supported");
        const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
        const s = clamp(starts[i]), e = clamp(ends[i]);
        shape[a] = Math.max(0, e - s);
        if (values && r === 1) values = values.slice(s, e);
      });
      return [{ shape, values }];
    }
    case "Gather": {
      const axis = norm(attr("axis", 0), x.shape.length);
      const idx = ins[1]!;
      const shape = [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)];
      const values = x.values && idx.values && x.shape.length === 1
        ? idx.values.map((i) => x.values![i < 0 ? i + x.shape[0] : i]) : undefined;
      return [{ shape, values }];
    }
    case "GatherND": {
      const b = attr("batch_dims", 0), idx = ins[1]!.shape;
      return [{ shape: [...idx.slice(0, -1), ...x.shape.slice(b + idx[idx.length - 1])] }];
    }
    case "ReduceSum": case "ReduceMean": case "ReduceSumSquare": case "ReduceMax": {
      const r = x.shape.length;
      const axes = ins[1] ? new Set(need(1, "axes").map((a) => norm(a, r))) : new Set(x.shape.map((_, i) => i));
      const keep = attr("keepdims", 1) === 1;
      return [{ shape: x.shape.flatMap((d, i) => (axes.has(i) ? (keep ? [1] : []) : [d])) }];
    }
    case "ArgMax": case "ArgMin": {
      const axis = norm(attr("axis", 0), x.shape.length), keep = attr("keepdims", 1) === 1;
      return [{ shape: x.shape.flatMap((d, i) => (i === axis ? (keep ? [1] : []) : [d])) }];
    }
    case "Pad": {
      const pads = need(1, "pads"), r = x.shape.length;
      return [{ shape: x.shape.map((d, i) => d + pads[i] + pads[i + r]) }];
    }
    case "Resize": {
      if (ins[3]) return [{ shape: need(3, "sizes") }];
      const scales = need(2, "scales");
      return [{ shape: x.shape.map((d, i) => Math.floor(d * scales[i])) }];
    }
    case "AveragePool": case "MaxPool": case "Conv": {
      const k = attrs.kernel_shape as number[] ?? ins[1]!.shape.slice(2);
      const sp = k.length;
      const strides = attr<number[]>("strides", new Array(sp).fill(1));
      const pads = attr<number[]>("pads", new Array(2 * sp).fill(0));
      const dil = attr<number[]>("dilations", new Array(sp).fill(1));
      const spatial = k.map((kk, i) => windowOut(x.shape[2 + i], kk, strides[i], pads[i], pads[i + sp], dil[i]));
      const ch = op === "Conv" ? ins[1]!.shape[0] : x.shape[1];
      return [{ shape: [x.shape[0], ch, ...spatial] }];
    }
    case "MatMul": {
      const a = x.shape, b = ins[1]!.shape;
      if (a.length < 2 || b.length < 2) throw new Error("MatMul: 1-D operands are not supported");
      const batch = broadcast([a.slice(0, -2), b.slice(0, -2)]);
      return [{ shape: [...batch, a[a.length - 2], b[b.length - 1]] }];
    }
    case "Gemm": {
      const a = x.shape, b = ins[1]!.shape;
      const m = attr("transA", 0) ? a[1] : a[0], n = attr("transB", 0) ? b[0] : b[1];
      return [{ shape: [m, n] }];
    }
    case "MultiHeadAttention": {
      const v = ins[2]!.shape;
      return [{ shape: [x.shape[0], x.shape[1], v[v.length - 1]] }];
    }
    default:
      throw new Error(`no shape rule for ${op}`);
  }
}

/** FLOPs of one node (0 for ops that are not counted). */
function nodeFlops(op: string, ins: (Info | undefined)[], out: Info, attrs: Attrs): number {
  switch (op) {
    case "Conv": {
      const w = ins[1]!.shape;
      // Each output element: Cin/group * kh * kw multiply-adds.
      return 2 * prod(out.shape) * prod(w.slice(1));
    }
    case "MatMul": {
      const a = ins[0]!.shape;
      return 2 * prod(out.shape) * a[a.length - 1];
    }
    case "Gemm": {
      const a = ins[0]!.shape;
      return 2 * prod(out.shape) * (attrs.transA ? a[0] : a[1]);
    }
    case "MultiHeadAttention": {
      // Q K^T and P V over all heads: [B, S, D] queries against [B, L, D] keys, [B, L, Dv] values.
      const [b, s, d] = ins[0]!.shape, l = ins[1]!.shape[1], dv = ins[2]!.shape[2];
      return 2 * b * s * l * d + 2 * b * s * l * dv;
    }
    default:
      return 0;
  }
}

/**
 * Counts the FLOPs of one run of `graph` with inputs of the given shapes (every symbolic input dim must be
 * given; a name missing from `inputs` takes its declared static dims).
 */
export function countFlops(graph: Graph, inputs: Record<string, readonly number[]>): FlopCount {
  const info = new Map<string, Info>();
  const lookup = (name: string): Info | undefined => {
    if (!name) return undefined;
    const hit = info.get(name);
    if (hit) return hit;
    const given = inputs[name];
    const c = graph.constantOf(name);
    const dims = given ?? graph.dimsOf(name);
    if (!dims) throw new Error(`flops: no shape for "${name}"`);
    if (dims.some((d) => typeof d !== "number")) throw new Error(`flops: input "${name}" has symbolic dims [${dims}]; give its shape`);
    const i: Info = { shape: dims as number[], values: c && prod(c.dims) <= 64 ? decode(c.elem, c.bytes) : undefined };
    info.set(name, i);
    return i;
  };
  const byOp: Record<string, number> = {};
  let total = 0;
  graph.forEachNode((n) => {
    const ins = n.inputs.map(lookup);
    let outs: Info[];
    try {
      outs = infer(n.opType, ins, n.attrs, n.outputs.length);
    } catch (e) {
      throw new Error(`flops: node ${n.opType} → ${n.outputs[0]}: ${(e as Error).message}`);
    }
    n.outputs.forEach((o, i) => info.set(o, outs[i]));
    const f = nodeFlops(n.opType, ins, outs[0], n.attrs);
    if (f) {
      byOp[n.opType] = (byOp[n.opType] ?? 0) + f;
      total += f;
    }
  });
  return { total, byOp };
}
