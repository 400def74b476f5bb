import type { Value } from "../runtime/graph.js";
import type { WeightView } from "../weights/weight-view.js";

export interface Conv2dOptions {
  kernel: number;
  stride?: number;
  padding?: number;
  /** Asymmetric zero padding [top, left, bottom, right] (ONNX order); overrides `padding`. */
  pads?: [number, number, number, number];
  bias?: boolean;
}

export function conv2d(vb: WeightView, x: Value, inC: number, outC: number, o: Conv2dOptions): Value {
  const k = o.kernel, p = o.padding ?? 0, s = o.stride ?? 1;
  const w = vb.get("weight", [outC, inC, k, k]);
  const ins = o.bias === false ? [x, w] : [x, w, vb.get("bias", [outC])];
  return x.graph.op1("Conv", ins, { kernel_shape: [k, k], pads: o.pads ?? [p, p, p, p], strides: [s, s] });
}
