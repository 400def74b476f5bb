// The graph builder's typed ops, each run as a tiny graph through ONNX Runtime on CPU and checked against values
// worked out by hand, element types included.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Graph, type Value } from "../src/runtime/graph.js";
import type { Elem } from "../src/runtime/onnx-schema.js";
import { Session, type TensorData } from "../src/runtime/session.js";

type Feed = [Elem, number[], number[]];

const HOST: Partial<Record<Elem, (v: number[]) => TensorData>> = {
  float32: (v) => Float32Array.from(v),
  int64: (v) => BigInt64Array.from(v, BigInt),
  bool: (v) => Uint8Array.from(v),
};
const OUTPUT_ARRAY: Partial<Record<Elem, Function>> = { float32: Float32Array, int64: BigInt64Array, bool: Uint8Array };

/** Builds y = build(inputs), runs it once; returns y's values and dims, after checking y's element type is `elem`. */
async function run(elem: Elem, inputs: Record<string, Feed>, build: (x: Record<string, Value>, g: Graph) => Value) {
  const g = new Graph("op");
  const xs = Object.fromEntries(Object.entries(inputs).map(([n, [e, dims]]) => [n, g.input(n, e, dims)]));
  const y = build(xs, g);
  assert.equal(y.elem, elem, "element type of the built value");
  g.output(y, "y");
  const session = await Session.create(g, { threads: 1 });
  try {
    const feeds = Object.fromEntries(Object.entries(inputs).map(([n, [e, dims, v]]) => [n, { data: HOST[e]!(v), dims }]));
    const out = (await session.run(feeds)).y;
    assert.ok(out.data instanceof OUTPUT_ARRAY[elem]!, `ORT returned ${out.data.constructor.name} for ${elem}`);
    return { values: Array.from(out.data as ArrayLike<number | bigint>, Number), dims: out.dims };
  } finally {
    await session.release();
  }
}

function close(actual: number[], expected: number[], tol = 1e-6) {
  assert.equal(actual.length, expected.length, `${actual} vs ${expected}`);
  actual.forEach((a, i) => assert.ok(Math.abs(a - expected[i]) <= tol, `[${i}]: ${a} vs ${expected[i]} (${actual})`));
}

const ids: Record<string, Feed> = { x: ["int64", [4], [1, 2, 3, 1]] };

test("eq / ne / not give bool", async () => {
  assert.deepEqual((await run("bool", ids, ({ x }) => x.eq(1))).values, [1, 0, 0, 1]);
  assert.deepEqual((await run("bool", ids, ({ x }) => x.ne(1))).values, [0, 1, 1, 0]);
  assert.deepEqual((await run("bool", ids, ({ x }) => x.eq(3).not())).values, [1, 1, 0, 1]);
});

test("where: number branches become constants of the given or the other branch's type", async () => {
  assert.deepEqual((await run("float32", ids, ({ x }) => x.eq(1).where(10, -5, "float32"))).values, [10, -5, -5, 10]);
  const r = await run("float32", { ...ids, f: ["float32", [4], [0.5, 1.5, 2.5, 3.5]] }, ({ x, f }) => x.eq(1).where(f, 0));
  assert.deepEqual(r.values, [0.5, 0, 0, 3.5]);
  assert.throws(() => new Graph().input("c", "bool", [1]).where(1, 2), /element type/);
});

test("cumsum along an axis keeps the type", async () => {
  const x: Record<string, Feed> = { x: ["int64", [2, 2], [1, 2, 3, 4]] };
  assert.deepEqual((await run("int64", x, ({ x }) => x.cumsum(1))).values, [1, 3, 3, 7]);
  assert.deepEqual((await run("int64", x, ({ x }) => x.cumsum(0))).values, [1, 2, 4, 6]);
});

test("expand to a constant or a runtime shape", async () => {
  const f: Record<string, Feed> = { f: ["float32", [1, 3], [1, 2, 3]], x: ["float32", [2, 5], new Array(10).fill(0)] };
  assert.deepEqual(await run("float32", f, ({ f }) => f.expand([2, 3])), { values: [1, 2, 3, 1, 2, 3], dims: [2, 3] });
  const r = await run("float32", f, ({ f, x }, g) => f.expand(g.concat([x.shape(0, 1), g.constInt64([3])], 0)));
  assert.deepEqual(r, { values: [1, 2, 3, 1, 2, 3], dims: [2, 3] });
});

test("pad: zeros at the begins and ends in ONNX order", async () => {
  const r = await run("float32", { f: ["float32", [1, 2], [1, 2]] }, ({ f }) => f.pad([0, 1, 0, 2]));
  assert.deepEqual(r, { values: [0, 1, 2, 0, 0], dims: [1, 5] });
  assert.deepEqual((await run("float32", { f: ["float32", [1, 2], [1, 2]] }, ({ f }) => f.pad([1, 0, 0, 0], "constant"))).dims, [2, 2]);
});

test("slice to an end known at run time", async () => {
  const r = await run("float32", { f: ["float32", [2, 4], [1, 2, 3, 4, 5, 6, 7, 8]] }, ({ f }) => f.slice([1], f.shape(0, 1), [1]));
  assert.deepEqual(r, { values: [2, 6], dims: [2, 1] });
});

test("resizeNearest by scales and to sizes, torch's floor rule", async () => {
  const f: Record<string, Feed> = { f: ["float32", [1, 1, 2, 2], [1, 2, 3, 4]] };
  const up = await run("float32", f, ({ f }) => f.resizeNearest([1, 1, 2, 2]));
  assert.deepEqual(up, { values: [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4], dims: [1, 1, 4, 4] });
  // 2 → 3: source floor(i * 2 / 3) = 0, 0, 1.
  const to3 = await run("float32", f, ({ f }, g) => f.resizeNearest(g.constInt64([1, 1, 3, 3])));
  assert.deepEqual(to3, { values: [1, 1, 2, 1, 1, 2, 3, 3, 4], dims: [1, 1, 3, 3] });
});

test("reduceSum / reduceSumSquare, with and without kept dims", async () => {
  const f: Record<string, Feed> = { f: ["float32", [2, 3], [1, 2, 3, 4, 5, 6]] };
  assert.deepEqual(await run("float32", f, ({ f }) => f.reduceSum([1], false)), { values: [6, 15], dims: [2] });
  assert.deepEqual(await run("float32", f, ({ f }) => f.reduceSum([1], true)), { values: [6, 15], dims: [2, 1] });
  assert.deepEqual(await run("float32", f, ({ f }) => f.reduceSumSquare([0], false)), { values: [17, 29, 45], dims: [3] });
});

test("argmin gives int64, the first index on ties", async () => {
  const r = await run("int64", { f: ["float32", [2, 3], [3, 1, 1, 0, 5, 0]] }, ({ f }) => f.argmin(1));
  assert.deepEqual(r, { values: [1, 0], dims: [2] });
});

test("gatherND with a batch axis: one row per batch item", async () => {
  const r = await run("float32", { f: ["float32", [2, 3, 2], Array.from({ length: 12 }, (_, i) => i)], i: ["int64", [2, 1], [2, 0]] },
    ({ f, i }) => f.gatherND(i, 1));
  assert.deepEqual(r, { values: [4, 5, 6, 7], dims: [2, 2] });
});

test("averagePool: strides default to the kernel", async () => {
  const r = await run("float32", { f: ["float32", [1, 1, 2, 4], [1, 2, 3, 4, 5, 6, 7, 8]] }, ({ f }) => f.averagePool([2, 2]));
  assert.deepEqual(r, { values: [3.5, 5.5], dims: [1, 1, 1, 2] });
});

test("layerNorm over the last axis, then scale and bias", async () => {
  const eps = 1e-5;
  const r = await run("float32", { f: ["float32", [1, 4], [1, 2, 3, 4]] },
    ({ f }, g) => f.layerNorm(g.constTensor("float32", [4], [1, 2, 1, 1]), g.constTensor("float32", [4], [0, 0, 0, 1]), eps));
  const s = Math.sqrt(1.25 + eps); // mean 2.5, variance 1.25
  close(r.values, [-1.5 / s, (2 * -0.5) / s, 0.5 / s, 1.5 / s + 1], 1e-6);
});

test("instanceNorm per channel, then scale[c] and bias[c]", async () => {
  const r = await run("float32", { f: ["float32", [1, 2, 2], [1, 3, 2, 6]] },
    ({ f }, g) => f.instanceNorm(g.constTensor("float32", [2], [2, 1]), g.constTensor("float32", [2], [0, 5]), 0));
  // Channel 0: mean 2, sd 1 → [-1, 1] * 2; channel 1: mean 4, sd 2 → [-1, 1] + 5.
  close(r.values, [-2, 2, 4, 6]);
});

test("gemm: alpha, transposed weight, bias", async () => {
  const x: Record<string, Feed> = { x: ["float32", [2, 2], [1, 2, 3, 4]] };
  const r = await run("float32", x, ({ x }, g) =>
    x.gemm(g.constTensor("float32", [3, 2], [1, 0, 0, 1, 1, 1]), g.constTensor("float32", [3], [10, 20, 30]), { transB: true, alpha: -2 }));
  // x W^T = [[1, 2, 3], [3, 4, 7]].
  assert.deepEqual(r, { values: [8, 16, 24, 4, 12, 16], dims: [2, 3] });
  const plain = await run("float32", x, ({ x }, g) => x.gemm(g.constTensor("float32", [2, 1], [1, 1]), null));
  assert.deepEqual(plain, { values: [3, 7], dims: [2, 1] });
});

test("conv with asymmetric pads and a stride", async () => {
  const r = await run("float32", { x: ["float32", [1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]] }, ({ x }, g) =>
    x.conv(g.constTensor("float32", [1, 1, 2, 2], [1, 1, 1, 1]), g.constTensor("float32", [1], [0.5]), { kernel: [2, 2], pads: [0, 0, 1, 1], strides: [2, 2] }));
  // 2x2 window sums of the 3x3 map padded with a zero row and column below and right.
  assert.deepEqual(r, { values: [12.5, 9.5, 15.5, 9.5], dims: [1, 1, 2, 2] });
});

test("multiHeadAttention: two heads of size 1, with and without a score bias", async () => {
  // One query [1 | 0]; keys [0 | 0], [1 | 0]; values [1 | 2], [3 | 4].
  const feeds: Record<string, Feed> = {
    q: ["float32", [1, 1, 2], [1, 0]], k: ["float32", [1, 2, 2], [0, 0, 1, 0]], v: ["float32", [1, 2, 2], [1, 2, 3, 4]],
  };
  const p = Math.E / (1 + Math.E); // head 0's softmax weight on key 1
  close((await run("float32", feeds, ({ q, k, v }) => q.multiHeadAttention(k, v, 2, 1))).values, [1 + 2 * p, 3], 1e-6);
  const masked = await run("float32", feeds, ({ q, k, v }, g) => q.multiHeadAttention(k, v, 2, 1, g.constTensor("float32", [1, 1, 1, 2], [0, -1e4])));
  close(masked.values, [1, 2], 1e-6);
});

test("gelu: exact, and the tanh approximation", async () => {
  const f: Record<string, Feed> = { f: ["float32", [1], [1]] };
  const tanh = 0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (1 + 0.044715)));
  close((await run("float32", f, ({ f }) => f.gelu("tanh"))).values, [tanh], 1e-6);
  close((await run("float32", f, ({ f }) => f.gelu())).values, [0.8413447], 1e-6); // Φ(1)
});

test("triu keeps the diagonal-th diagonal and above", async () => {
  const f: Record<string, Feed> = { f: ["float32", [3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]] };
  assert.deepEqual((await run("float32", f, ({ f }) => f.triu(1))).values, [0, 2, 3, 0, 0, 6, 0, 0, 0]);
  assert.deepEqual((await run("float32", f, ({ f }) => f.triu())).values, [1, 2, 3, 0, 5, 6, 0, 0, 9]);
});

test("constantOfShape: float32 zeros by default, or a value of any type", async () => {
  const f: Record<string, Feed> = { f: ["float32", [2, 3], new Array(6).fill(1)] };
  assert.deepEqual(await run("float32", f, ({ f }, g) => g.constantOfShape(f.shape())), { values: [0, 0, 0, 0, 0, 0], dims: [2, 3] });
  assert.deepEqual(await run("int64", f, ({ f }, g) => g.constantOfShape(f.shape(0, 1), 7, "int64")), { values: [7, 7], dims: [2] });
  assert.deepEqual(await run("float32", f, ({ f }, g) => g.constantOfShape(f.shape(1, 2), -2.5)), { values: [-2.5, -2.5, -2.5], dims: [3] });
});
