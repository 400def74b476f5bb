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
  let w = vb.get("weight", [outC, inC, k, k]);
  const extra = vb.store.opts.padConvChannels && inC > 4 ? (4 - (inC % 4)) % 4 : 0;
  if (extra) {
    // Zero channels in the input and the weight leave the result unchanged.
    x = padChannels(x, extra);
    w = padChannels(w, extra);
  }
  const ins = o.bias === false ? [x, w] : [x, w, vb.get("bias", [outC])];
  return x.graph.op1("Conv", ins, { kernel_shape: [k, k], pads: o.pads ?? [p, p, p, p], strides: [s, s] });
}

/** Appends `extra` zero channels on axis 1 of a 4-D tensor. */
function padChannels(x: Value, extra: number): Value {
  const g = x.graph;
  return g.op1("Pad", [x, g.constInt64([0, 0, 0, 0, 0, extra, 0, 0])], { mode: "constant" });
}
