// ResnetBlock2D (diffusers), including the resampling variant the Kandinsky UNet uses in place of
// Downsample2D/Upsample2D convs: with `down`/`up`, both paths are average-pooled / nearest-upsampled right after
// norm1 + act, inside the block.
import type { Value } from "../../runtime/graph.js";
import type { WeightView } from "../../weights/weight-view.js";
import { conv2d } from "../../nn/conv.js";
import { linear } from "../../nn/linear.js";
import { groupNorm, groupNormPlain } from "../../nn/norm.js";
import { activation } from "../../nn/activation.js";
import { resizeNearestLike, upsampleNearest } from "../../nn/resize.js";
import type { TimeNorm } from "./config.js";

export interface ResnetConfig {
  inC: number;
  outC: number;
  /** Size of the time embedding. */
  tembC: number;
  groups: number;
  eps: number;
  act: string;
  timeNorm: TimeNorm;
  /** Feed temb to time_emb_proj without the activation. */
  skipTimeAct: boolean;
  /** The output is divided by this. */
  outputScale: number;
}

/**
 * How a resampling resnet changes the size: "down" = AvgPool 2x2 (floor); "up" = nearest x2, or nearest to the
 * spatial size of `like` (diffusers' upsample_size: the skip connection the next block concatenates).
 */
export type Resample = { kind: "down" } | { kind: "up"; like?: Value };

export function resample(x: Value, r: Resample): Value {
  if (r.kind === "down") return x.averagePool([2, 2]);
  return r.like ? resizeNearestLike(x, r.like) : upsampleNearest(x, 2);
}

export function resnetBlock2D(vb: WeightView, x: Value, temb: Value, c: ResnetConfig, r?: Resample): Value {
  let h = activation(c.act, groupNorm(vb.pp("norm1"), x, c.groups, c.inC, c.eps));
  let skip = x;
  if (r) {
    h = resample(h, r);
    skip = resample(skip, r);
  }
  h = conv2d(vb.pp("conv1"), h, c.inC, c.outC, { kernel: 3, padding: 1 });

  const scaleShift = c.timeNorm === "scale_shift";
  const t = linear(vb.pp("time_emb_proj"), c.skipTimeAct ? temb : activation(c.act, temb), c.tembC, scaleShift ? 2 * c.outC : c.outC)
    .unsqueeze([2, 3]);
  if (scaleShift) {
    // norm2(h) * (1 + scale) + shift with norm2's affine folded into the per-sample factors, so the full-size
    // tensor sees one Mul and one Add: y * (w (1 + scale)) + (b (1 + scale) + shift).
    const [scale, shift] = t.split(2, 1);
    const n = vb.pp("norm2");
    const w = n.get("weight", [c.outC]).reshape([c.outC, 1, 1]);
    const b = n.get("bias", [c.outC]).reshape([c.outC, 1, 1]);
    const s1 = scale.add(1);
    h = groupNormPlain(h, c.groups, c.eps).mul(w.mul(s1)).add(b.mul(s1).add(shift));
  } else {
    h = groupNorm(vb.pp("norm2"), h.add(t), c.groups, c.outC, c.eps);
  }
  h = conv2d(vb.pp("conv2"), activation(c.act, h), c.outC, c.outC, { kernel: 3, padding: 1 });

  if (c.inC !== c.outC) skip = conv2d(vb.pp("conv_shortcut"), skip, c.inC, c.outC, { kernel: 1 });
  const out = skip.add(h);
  return c.outputScale === 1 ? out : out.div(c.outputScale);
}
