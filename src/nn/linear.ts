// Linear layers as Gemm(transB=1): the [out, in] weight is used in place (a Transpose would make ORT copy it).
import type { Value } from "../runtime/graph.js";
import type { WeightView } from "../weights/weight-view.js";

export function linear(vb: WeightView, x: Value, inF: number, outF: number, bias = true): Value {
  const g = x.graph;
  const w = vb.get("weight", [outF, inF]);
  const b = bias ? vb.get("bias", [outF]) : null;
  // Gemm is 2-D only: flatten the leading dims, then restore them.
  const lead = x.shape(0, -1);
  const y = x.reshape([-1, inF]).gemm(w, b, { transB: true });
  return y.reshape(g.concat([lead, g.constInt64([outF])], 0));
}
