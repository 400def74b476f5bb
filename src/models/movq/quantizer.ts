// diffusers' VectorQuantizer at inference: every latent vector is replaced by its nearest codebook entry
// (L2 distance, first index on ties as torch.argmin).
import type { Value } from "../../runtime/graph.js";
import type { WeightView } from "../../weights/weight-view.js";

/** z [B, dim, h, w] → the nearest codebook entries, same shape. */
export function vectorQuantize(vb: WeightView, z: Value, codes: number, dim: number): Value {
  const book = vb.get("embedding.weight", [codes, dim]);
  const zt = z.transpose([0, 2, 3, 1]);
  // |z - e|^2 without the per-row constant |z|^2: |e|^2 - 2 z.e, as one Gemm. Float32 even under a float16
  // build, so that near ties resolve as in the reference (and ArgMin has a float32 kernel).
  const book32 = book.cast("float32");
  const norms = book32.reduceSumSquare([1], false);
  const dist = zt.reshape([-1, dim]).cast("float32").gemm(book32, norms, { transB: true, alpha: -2 });
  const idx = dist.argmin(1);
  return book.gather(idx).reshape(zt.shape()).transpose([0, 3, 1, 2]);
}
