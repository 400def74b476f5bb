// The provider's peak, measured through the same graph builder and Session as the networks: a chain of square
// MatMuls x·B·B·…·B ([n, n] each, `chain` products per run) with B a constant, as network weights are (so the
// CPU provider pre-packs it; a GPU keeps it resident and only x crosses the bus). B's entries have variance 1/n,
// which keeps the chain's values O(1) in float16 too. The output is reduced to a scalar, so no large read-back.
import { Graph } from "../src/runtime/graph.js";
import type { Elem } from "../src/runtime/onnx-schema.js";
import type { HostArray } from "../src/runtime/session.js";

function uniform(n: number, scale: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    return scale * ((s >>> 0) / 4294967296 - 0.5);
  });
}

export function gemmGraph(n: number, chain: number, compute: Elem): Graph {
  const g = new Graph(`gemm${n}`);
  // Uniform in ±sqrt(3/n): variance 1/n. Stored as float32 and cast in-graph (ORT folds the cast at load).
  const b = g.constTensor("float32", [n, n], uniform(n * n, 2 * Math.sqrt(3 / n), 0x9e3779b9)).cast(compute);
  let y = g.input("a", "float32", [n, n]).cast(compute);
  for (let i = 0; i < chain; i++) y = y.matmul(b);
  g.output(y.cast("float32").reduceMean([0, 1], false), "y");
  return g;
}

export function gemmFeeds(n: number): Record<string, HostArray> {
  return { a: { data: uniform(n * n, 2, 0x2545f491), dims: [n, n] } };
}
