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
  const b = o.bias === false ? null : vb.get("bias", [outC]);
  return x.conv(w, b, { kernel: [k, k], pads: o.pads ?? [p, p, p, p], strides: [s, s] });
}

/** Appends `extra` zero channels on axis 1 of a 4-D tensor. */
function padChannels(x: Value, extra: number): Value {
  return x.pad([0, 0, 0, 0, 0, extra, 0, 0], "constant");
}
