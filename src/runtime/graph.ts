// A small ONNX graph builder: our network modules call ops on `Value`s, which append nodes to a `Graph`;
// `Graph.encode()` produces ModelProto bytes for ONNX Runtime. Weights are initializers whose data stays in
// the safetensors files (external data by byte range), so building a graph never copies a weight. Graph passes
// (the int8 rewrite) may replace nodes and add weights held in memory, handed to the session as one in-memory
// external-data file (MEMORY_FILE).
import { closeSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { ModelProto, DATA_TYPE, ELEM_BYTES, type Elem } from "./onnx-schema.js";

export type Dim = number | string;
export type AttrValue = number | string | number[] | { ints: number[] } | { floats: number[] } | { float: number } | { tensor: ConstTensor };

export interface ConstTensor {
  elem: Elem;
  dims: number[];
  bytes: Uint8Array;
}

/** A tensor whose bytes live in a file: `location` is the file's base name inside the external-data folder. */
export interface ExternalTensor {
  elem: Elem;
  dims: number[];
  location: string;
  offset: number;
  length: number;
}

export const OPSET = 21;
const IR_VERSION = 10;
/** The name of the in-memory external-data file that holds a graph's memory weights. */
export const MEMORY_FILE = "memory.bin";
/** Alignment of tensors in the memory file. */
const MEMORY_ALIGN = 64;

export class Value {
  constructor(readonly graph: Graph, readonly name: string, readonly elem: Elem) {}

  private un(op: string, attrs?: Record<string, AttrValue>): Value {
    return this.graph.op1(op, [this], attrs, this.elem);
  }
  private bin(op: string, other: Value | number, elem = this.elem): Value {
    return this.graph.op1(op, [this, this.graph.lift(other, this.elem)], undefined, elem);
  }
  private reduce(op: string, axes: number[], keepdims: boolean): Value {
    return this.graph.op1(op, [this, this.graph.constInt64(axes)], { keepdims: keepdims ? 1 : 0 }, this.elem);
  }
  private arg(op: string, axis: number, keepdims: boolean): Value {
    return this.graph.op1(op, [this], { axis, keepdims: keepdims ? 1 : 0 }, "int64");
  }

  add(o: Value | number) { return this.bin("Add", o); }
  sub(o: Value | number) { return this.bin("Sub", o); }
  mul(o: Value | number) { return this.bin("Mul", o); }
  div(o: Value | number) { return this.bin("Div", o); }
  pow(o: Value | number) { return this.bin("Pow", o); }
  eq(o: Value | number) { return this.bin("Equal", o, "bool"); }
  ne(o: Value | number) { return this.eq(o).not(); }
  not() { return this.graph.op1("Not", [this], undefined, "bool"); }
  /** torch.where(this, a, b) on a bool condition; numbers become constants of `elem` (default: the other branch's). */
  where(a: Value | number, b: Value | number, elem = a instanceof Value ? a.elem : b instanceof Value ? b.elem : undefined) {
    if (!elem) throw new Error("where: give the element type of two number branches");
    const g = this.graph;
    return g.op1("Where", [this, g.lift(a, elem), g.lift(b, elem)], undefined, elem);
  }
  matmul(o: Value) { return this.graph.op1("MatMul", [this, o], undefined, this.elem); }
  /** alpha * this @ (transB ? w^T : w) + bias, on 2-D tensors (an [out, in] weight is used in place with transB). */
  gemm(w: Value, bias: Value | null, o: { transB?: boolean; alpha?: number } = {}) {
    const attrs: Record<string, AttrValue> = {};
    if (o.transB) attrs.transB = 1;
    if (o.alpha !== undefined) attrs.alpha = { float: o.alpha };
    return this.graph.op1("Gemm", bias ? [this, w, bias] : [this, w], attrs, this.elem);
  }
  /** Convolution with weight [out, in, ...kernel]; `pads` in ONNX order (all begins, then all ends). */
  conv(w: Value, bias: Value | null, o: { kernel: number[]; pads: number[]; strides: number[] }) {
    return this.graph.op1("Conv", bias ? [this, w, bias] : [this, w], { kernel_shape: o.kernel, pads: o.pads, strides: o.strides }, this.elem);
  }
  /** com.microsoft.MultiHeadAttention of this query over k, v ([B, T, heads * dim] each); `bias` is added to the scores. */
  multiHeadAttention(k: Value, v: Value, heads: number, scale: number, bias?: Value) {
    return this.graph.op1("MultiHeadAttention", [this, k, v, null, null, bias ?? null], { num_heads: heads, scale: { float: scale } },
      this.elem, "com.microsoft");
  }
  neg() { return this.un("Neg"); }
  exp() { return this.un("Exp"); }
  sqrt() { return this.un("Sqrt"); }
  sin() { return this.un("Sin"); }
  cos() { return this.un("Cos"); }
  sigmoid() { return this.un("Sigmoid"); }
  /** x * sigmoid(x) */
  silu() { return this.mul(this.sigmoid()); }
  gelu(approximate?: "tanh") { return this.un("Gelu", approximate && { approximate }); }
  /** CLIP's quick_gelu: x * sigmoid(1.702 x) */
  quickGelu() { return this.mul(this.mul(1.702).sigmoid()); }
  relu() { return this.un("Relu"); }
  /** torch.triu: zeroes the elements below the `diagonal`-th diagonal of the last two axes. */
  triu(diagonal = 0) { return this.graph.op1("Trilu", [this, this.graph.constTensor("int64", [], [diagonal])], { upper: 1 }, this.elem); }
  cumsum(axis: number) { return this.graph.op1("CumSum", [this, this.graph.constTensor("int64", [], [axis])], undefined, this.elem); }
  softmax(axis = -1) { return this.un("Softmax", { axis }); }
  transpose(perm: number[]) { return this.un("Transpose", { perm }); }
  cast(to: Elem) {
    return to === this.elem ? this : this.graph.op1("Cast", [this], { to: DATA_TYPE[to] }, to);
  }
  /** Reshape to a fixed target (0 copies the input dim, -1 infers) or to another tensor's runtime shape. */
  reshape(shape: number[] | Value) {
    const s = Array.isArray(shape) ? this.graph.constInt64(shape) : shape;
    return this.graph.op1("Reshape", [this, s], undefined, this.elem);
  }
  /** The runtime shape (int64), optionally sliced as ONNX Shape(start, end). */
  shape(start?: number, end?: number) {
    const attrs: Record<string, AttrValue> = {};
    if (start !== undefined) attrs.start = start;
    if (end !== undefined) attrs.end = end;
    return this.graph.op1("Shape", [this], attrs, "int64");
  }
  unsqueeze(axes: number[]) { return this.graph.op1("Unsqueeze", [this, this.graph.constInt64(axes)], undefined, this.elem); }
  squeeze(axes: number[]) { return this.graph.op1("Squeeze", [this, this.graph.constInt64(axes)], undefined, this.elem); }
  /** Slices `axes` from starts to ends (constants, or int64 [n] values known at run time). */
  slice(starts: number[] | Value, ends: number[] | Value, axes: number[], steps?: number[]) {
    const g = this.graph;
    const ints = (v: number[] | Value) => (v instanceof Value ? v : g.constInt64(v));
    const ins = [this, ints(starts), ints(ends), g.constInt64(axes)];
    if (steps) ins.push(g.constInt64(steps));
    return g.op1("Slice", ins, undefined, this.elem);
  }
  /** Broadcasts to a shape (constant, or an int64 [rank] value). */
  expand(shape: number[] | Value) {
    const s = Array.isArray(shape) ? this.graph.constInt64(shape) : shape;
    return this.graph.op1("Expand", [this, s], undefined, this.elem);
  }
  /** Pads with zeros (or as `mode` says); `pads` in ONNX order: the begins of every axis, then the ends. */
  pad(pads: number[], mode?: "constant" | "reflect" | "edge" | "wrap") {
    return this.graph.op1("Pad", [this, this.graph.constInt64(pads)], mode && { mode }, this.elem);
  }
  /** Gathers along `axis` with int64 indices (a Value, or constant indices; a scalar index drops the axis). */
  gather(indices: Value | number | number[], axis = 0) {
    const g = this.graph;
    const idx = indices instanceof Value ? indices
      : typeof indices === "number" ? g.constTensor("int64", [], [indices]) : g.constInt64(indices);
    return g.op1("Gather", [this, idx], { axis }, this.elem);
  }
  /** Gathers the slices at the int64 index tuples on the last axis of `indices`, after `batchDims` leading axes both share. */
  gatherND(indices: Value, batchDims = 0) { return this.graph.op1("GatherND", [this, indices], { batch_dims: batchDims }, this.elem); }
  reduceMean(axes: number[], keepdims = true) { return this.reduce("ReduceMean", axes, keepdims); }
  reduceSum(axes: number[], keepdims = true) { return this.reduce("ReduceSum", axes, keepdims); }
  reduceSumSquare(axes: number[], keepdims = true) { return this.reduce("ReduceSumSquare", axes, keepdims); }
  /** int64 index of the largest value (the first one on ties). */
  argmax(axis: number, keepdims = false) { return this.arg("ArgMax", axis, keepdims); }
  /** int64 index of the smallest value (the first one on ties). */
  argmin(axis: number, keepdims = false) { return this.arg("ArgMin", axis, keepdims); }
  /** Average pooling over the spatial axes of NC... (no padding: floor sizes). */
  averagePool(kernel: number[], strides = kernel) {
    return this.graph.op1("AveragePool", [this], { kernel_shape: kernel, strides }, this.elem);
  }
  /**
   * Nearest-neighbour resize to per-axis scales (constants) or to sizes (an int64 [rank] value), with torch's legacy
   * "nearest" rule src = floor(dst * in / out) (asymmetric coordinates, floor rounding).
   */
  resizeNearest(to: number[] | Value) {
    const g = this.graph;
    const ins = Array.isArray(to) ? [this, null, g.constTensor("float32", [to.length], to)] : [this, null, null, to];
    return g.op1("Resize", ins, { mode: "nearest", coordinate_transformation_mode: "asymmetric", nearest_mode: "floor" }, this.elem);
  }
  /** LayerNorm over the last axis. */
  layerNorm(scale: Value, bias: Value, eps: number) {
    return this.graph.op1("LayerNormalization", [this, scale, bias], { axis: -1, epsilon: { float: eps } }, this.elem);
  }
  /** Normalises each channel (axis 1) of each sample over the remaining axes, then scale[c] * x + bias[c]. */
  instanceNorm(scale: Value, bias: Value, eps: number) {
    return this.graph.op1("InstanceNormalization", [this, scale, bias], { epsilon: { float: eps } }, this.elem);
  }
  /** Splits into equal parts along `axis`. */
  split(parts: number, axis: number): Value[] {
    return this.graph.op("Split", [this], { axis, num_outputs: parts }, { outputs: parts, elem: this.elem });
  }
}

export interface NodeRecord {
  opType: string;
  domain?: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
}

export interface InitRecord {
  name: string;
  elem: Elem;
  dims: number[];
  /** External data in a file, inline bytes, or bytes for the memory file; none for a weightless (shape-only) graph. */
  external?: ExternalTensor;
  bytes?: Uint8Array;
  memory?: Uint8Array;
  /** Counts toward the model's parameters (checkpoint weights, not helper constants). */
  param: boolean;
  /** The name hint it was created with (a checkpoint weight's key). */
  hint?: string;
}

export class Graph {
  private nodes: NodeRecord[] = [];
  private inits = new Map<string, InitRecord>();
  private inputs: { name: string; elem: Elem; dims: Dim[] }[] = [];
  private outputs: { name: string; elem: Elem }[] = [];
  private names = new Set<string>();
  private counter = 0;
  private constCache = new Map<string, Value>();
  private externalFolders = new Set<string>();
  /** Extra opset imports (e.g. com.microsoft). */
  private domains = new Map<string, number>();
  /** While a node is being replaced: where new nodes go. */
  private capture?: NodeRecord[];

  constructor(readonly name = "model") {}

  private fresh(hint: string): string {
    let n: string;
    do n = `${hint}_${this.counter++}`; while (this.names.has(n));
    this.names.add(n);
    return n;
  }

  input(name: string, elem: Elem, dims: Dim[]): Value {
    if (this.names.has(name)) throw new Error(`graph input "${name}" defined twice`);
    this.names.add(name);
    this.inputs.push({ name, elem, dims });
    return new Value(this, name, elem);
  }

  output(v: Value, name: string): void {
    if (v.name !== name) {
      if (this.names.has(name)) throw new Error(`graph output "${name}" clashes with an existing value`);
      this.names.add(name);
      this.nodes.push({ opType: "Identity", inputs: [v.name], outputs: [name], attrs: {} });
    }
    this.outputs.push({ name, elem: v.elem });
  }

  /** Appends a node; returns its outputs. */
  op(opType: string, inputs: (Value | null)[], attrs: Record<string, AttrValue> = {},
     opts: { outputs?: number; elem?: Elem | Elem[]; domain?: string } = {}): Value[] {
    const n = opts.outputs ?? 1;
    const elems = Array.isArray(opts.elem) ? opts.elem : new Array<Elem>(n).fill(opts.elem ?? inputs.find((x) => x)?.elem ?? "float32");
    const outs = elems.map((e) => new Value(this, this.fresh(opType), e));
    if (opts.domain) this.domains.set(opts.domain, 1);
    (this.capture ?? this.nodes).push({
      opType, domain: opts.domain, attrs,
      inputs: inputs.map((x) => (x ? x.name : "")),
      outputs: outs.map((o) => o.name),
    });
    return outs;
  }

  op1(opType: string, inputs: (Value | null)[], attrs?: Record<string, AttrValue>, elem?: Elem, domain?: string): Value {
    return this.op(opType, inputs, attrs, { elem, domain })[0];
  }

  /** An initializer whose data is a byte range of a file in `folder` (the external-data folder). */
  external(hint: string, t: ExternalTensor, folder: string): Value {
    this.externalFolders.add(folder);
    if (this.externalFolders.size > 1) {
      throw new Error(`weights of one graph must live in one folder; got ${[...this.externalFolders].join(", ")}`);
    }
    const name = this.fresh(hint);
    this.inits.set(name, { name, elem: t.elem, dims: t.dims, external: t, param: true, hint });
    return new Value(this, name, t.elem);
  }

  /** A weight whose bytes are held in memory (see MEMORY_FILE). */
  memoryTensor(hint: string, elem: Elem, dims: number[], bytes: Uint8Array): Value {
    const want = dims.reduce((a, b) => a * b, 1) * ELEM_BYTES[elem];
    if (bytes.byteLength !== want) throw new Error(`memory tensor ${hint}: ${bytes.byteLength} bytes for [${dims}] ${elem}`);
    const name = this.fresh(hint);
    this.inits.set(name, { name, elem, dims, memory: bytes, param: true, hint });
    return new Value(this, name, elem);
  }

  /** A weight of known shape but no data: graphs built this way can be inspected (parameter count) but not run. */
  placeholder(hint: string, elem: Elem, dims: number[]): Value {
    const name = this.fresh(hint);
    this.inits.set(name, { name, elem, dims, param: true });
    return new Value(this, name, elem);
  }

  /** The bytes of a file-backed initializer, read from its file. */
  readExternal(name: string): Uint8Array {
    const e = this.inits.get(name)?.external;
    if (!e) throw new Error(`"${name}" is not an external initializer`);
    const buf = Buffer.alloc(e.length);
    const fd = openSync(join(this.externalFolder!, e.location), "r");
    try {
      for (let done = 0; done < e.length;) {
        const n = readSync(fd, buf, done, e.length - done, e.offset + done);
        if (n === 0) throw new Error(`${e.location}: file ends before byte ${e.offset + e.length}`);
        done += n;
      }
    } finally {
      closeSync(fd);
    }
    return buf;
  }

  /** Moves every file-backed initializer into memory, so that the graph no longer needs its external folder. */
  loadExternal(): void {
    for (const i of this.inits.values()) {
      if (!i.external) continue;
      i.memory = this.readExternal(i.name);
      i.external = undefined;
    }
    this.externalFolders.clear();
  }

  initializer(name: string): Readonly<InitRecord> | undefined {
    return this.inits.get(name);
  }

  /** The node that computes `name`, if any. */
  producer(name: string): Readonly<NodeRecord> | undefined {
    return this.nodes.find((n) => n.outputs.includes(name));
  }

  /** A handle on an existing value (a node output or an initializer), to build on it. */
  value(name: string, elem: Elem): Value {
    if (!this.names.has(name) && !this.inits.has(name)) throw new Error(`no value "${name}" in the graph`);
    return new Value(this, name, elem);
  }

  /**
   * Replaces a node by the nodes `build` appends, in its place; `build` returns the values that take over the node's
   * outputs, in order.
   */
  replaceNode(node: Readonly<NodeRecord>, build: () => Value[]): void {
    const at = this.nodes.indexOf(node as NodeRecord);
    if (at < 0) throw new Error(`replaceNode: ${node.opType} is not in the graph`);
    const added: NodeRecord[] = [];
    this.capture = added;
    try {
      const outs = build();
      if (outs.length !== node.outputs.length) throw new Error(`replaceNode: ${outs.length} values for ${node.outputs.length} outputs`);
      outs.forEach((v, k) => added.push({ opType: "Identity", inputs: [v.name], outputs: [node.outputs[k]], attrs: {} }));
    } finally {
      this.capture = undefined;
    }
    this.nodes.splice(at, 1, ...added);
  }

  /** Drops initializers that no node reads. */
  pruneInitializers(): void {
    const read = new Set(this.nodes.flatMap((n) => n.inputs));
    for (const name of this.inits.keys()) if (!read.has(name)) this.inits.delete(name);
  }

  /** The memory file's bytes (every memory tensor at its aligned offset), or undefined when there are none. */
  memoryData(): Uint8Array | undefined {
    const layout = this.memoryLayout();
    if (!layout.size) return undefined;
    const buf = Buffer.alloc(layout.size);
    for (const [i, offset] of layout.offsets) buf.set(i.memory!, offset);
    return buf;
  }

  private memoryLayout(): { offsets: Map<InitRecord, number>; size: number } {
    const offsets = new Map<InitRecord, number>();
    let size = 0;
    for (const i of this.inits.values()) {
      if (!i.memory) continue;
      size = Math.ceil(size / MEMORY_ALIGN) * MEMORY_ALIGN;
      offsets.set(i, size);
      size += i.memory.byteLength;
    }
    return { offsets, size };
  }

  constTensor(elem: Elem, dims: number[], values: ArrayLike<number>): Value {
    const bytes = encodeValues(elem, values);
    const key = `${elem}|${dims.join(",")}|${Buffer.from(bytes).toString("base64")}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = this.fresh("const");
    this.inits.set(name, { name, elem, dims, bytes, param: false });
    const v = new Value(this, name, elem);
    this.constCache.set(key, v);
    return v;
  }

  constInt64(values: number[]): Value {
    return this.constTensor("int64", [values.length], values);
  }

  /** A scalar constant of `elem`, or the value itself. */
  lift(v: Value | number, elem: Elem): Value {
    return v instanceof Value ? v : this.constTensor(elem, [], [v]);
  }

  /** A tensor of `shape` (an int64 [rank] value) filled with `value`. */
  constantOfShape(shape: Value, value = 0, elem: Elem = "float32"): Value {
    // Without the attribute, ONNX fills float32 zeros.
    const attrs = value === 0 && elem === "float32" ? undefined : { value: { tensor: { elem, dims: [1], bytes: encodeValues(elem, [value]) } } };
    return this.op1("ConstantOfShape", [shape], attrs, elem);
  }

  concat(values: Value[], axis: number): Value {
    return this.op1("Concat", values, { axis }, values[0].elem);
  }

  /** Graph inputs and their element types (what a session must be fed). */
  get inputElems(): Record<string, Elem> {
    return Object.fromEntries(this.inputs.map((i) => [i.name, i.elem]));
  }

  get outputNames(): string[] {
    return this.outputs.map((o) => o.name);
  }

  /** The folder holding the external data files (for the session option), if any. */
  get externalFolder(): string | undefined {
    return [...this.externalFolders][0];
  }

  /** Number of checkpoint parameters referenced by the graph. */
  get parameterCount(): number {
    let n = 0;
    for (const i of this.inits.values()) if (i.param) n += i.dims.reduce((a, b) => a * b, 1);
    return n;
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  /** True when every initializer has data, i.e. the graph can be run. */
  get runnable(): boolean {
    for (const i of this.inits.values()) if (!i.external && !i.bytes && !i.memory) return false;
    return true;
  }

  /** The file names (inside externalFolder) that external initializers read. */
  get externalFiles(): string[] {
    const files = new Set<string>();
    for (const i of this.inits.values()) if (i.external) files.add(i.external.location);
    return [...files].sort();
  }

  /** Visits every node (for analyses such as FLOP counting). */
  forEachNode(fn: (n: Readonly<NodeRecord>) => void): void {
    for (const n of this.nodes) fn(n);
  }

  /** An inline constant's data (helper constants such as shapes and scales), for analyses of the graph. */
  constantOf(name: string): ConstTensor | undefined {
    const i = this.inits.get(name);
    return i?.bytes ? { elem: i.elem, dims: i.dims, bytes: i.bytes } : undefined;
  }

  /** The static dims of an initializer or graph input, when known. */
  dimsOf(name: string): Dim[] | undefined {
    return this.inits.get(name)?.dims ?? this.inputs.find((i) => i.name === name)?.dims;
  }

  encode(): Uint8Array {
    if (!this.runnable) throw new Error(`graph "${this.name}" has weights without data (built without a checkpoint): it cannot be run`);
    const opsets = [{ domain: "", version: OPSET }, ...[...this.domains].map(([domain, version]) => ({ domain, version }))];
    const { offsets } = this.memoryLayout();
    const msg = {
      irVersion: IR_VERSION,
      producerName: "kandinsky-ts",
      opsetImport: opsets,
      graph: {
        name: this.name,
        node: this.nodes.map((n, i) => ({
          name: `n${i}_${n.opType}`, opType: n.opType, domain: n.domain ?? "", input: n.inputs, output: n.outputs,
          attribute: Object.entries(n.attrs).map(([name, v]) => encodeAttr(name, v)),
        })),
        initializer: [...this.inits.values()].map((i) => encodeInit(i, offsets.get(i))),
        input: this.inputs.map((i) => valueInfo(i.name, i.elem, i.dims)),
        output: this.outputs.map((o) => ({ name: o.name, type: { tensorType: { elemType: DATA_TYPE[o.elem] } } })),
      },
    };
    const err = ModelProto.verify(msg);
    if (err) throw new Error(`invalid ONNX model: ${err}`);
    return ModelProto.encode(ModelProto.fromObject(msg)).finish();
  }
}

function valueInfo(name: string, elem: Elem, dims: Dim[]) {
  return {
    name,
    type: {
      tensorType: {
        elemType: DATA_TYPE[elem],
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function encodeInit(i: InitRecord, memoryOffset?: number) {
  const base = { name: i.name, dims: i.dims, dataType: DATA_TYPE[i.elem] };
  if (i.bytes) return { ...base, rawData: i.bytes };
  const e = i.memory ? { location: MEMORY_FILE, offset: memoryOffset!, length: i.memory.byteLength } : i.external!;
  return {
    ...base,
    dataLocation: 1,
    externalData: [
      { key: "location", value: e.location },
      { key: "offset", value: String(e.offset) },
      { key: "length", value: String(e.length) },
    ],
  };
}

function encodeAttr(name: string, v: AttrValue) {
  const T = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 };
  if (typeof v === "number") {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: ${v} is not an integer; use { float: v }`);
    return { name, type: T.INT, i: v };
  }
  if (typeof v === "string") return { name, type: T.STRING, s: Buffer.from(v, "utf8") };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ("ints" in v) return { name, type: T.INTS, ints: v.ints };
  if ("floats" in v) return { name, type: T.FLOATS, floats: v.floats };
  if ("float" in v) return { name, type: T.FLOAT, f: v.float };
  return { name, type: T.TENSOR, t: { dims: v.tensor.dims, dataType: DATA_TYPE[v.tensor.elem], rawData: v.tensor.bytes } };
}

export function encodeValues(elem: Elem, values: ArrayLike<number>): Uint8Array {
  const n = values.length;
  const buf = Buffer.alloc(n * ELEM_BYTES[elem]);
  for (let i = 0; i < n; i++) {
    const x = values[i];
    switch (elem) {
      case "float32": buf.writeFloatLE(x, i * 4); break;
      case "float64": buf.writeDoubleLE(x, i * 8); break;
      case "int64": buf.writeBigInt64LE(BigInt(x), i * 8); break;
      case "int32": buf.writeInt32LE(x, i * 4); break;
      case "uint8": case "bool": buf.writeUInt8(x ? (elem === "bool" ? 1 : x) : 0, i); break;
      case "int8": buf.writeInt8(x, i); break;
      case "float16": buf.writeUInt16LE(floatToHalf(x), i * 2); break;
      case "bfloat16": {
        const f = new Float32Array([x]);
        const u = new Uint32Array(f.buffer)[0];
        buf.writeUInt16LE(((u + 0x7fff + ((u >> 16) & 1)) >>> 16) & 0xffff, i * 2);
        break;
      }
    }
  }
  return buf;
}

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** float → IEEE half bits, round to nearest even (no allocation: also used to write GBs of fp16 weights). */
export function floatToHalf(x: number): number {
  scratchF32[0] = x;
  let u = scratchU32[0];
  const sign = (u >>> 16) & 0x8000;
  u &= 0x7fffffff;
  if (u >= 0x47800000) return sign | (u > 0x7f800000 ? 0x7e00 : 0x7c00); // overflow → inf; NaN stays NaN
  if (u < 0x38800000) {
    // Subnormal half: let float addition do the rounding.
    scratchF32[0] = Math.abs(x) + 0.5;
    return sign | (scratchU32[0] - 0x3f000000);
  }
  return sign | ((u - 0x38000000 + 0xfff + ((u >>> 13) & 1)) >>> 13);
}
