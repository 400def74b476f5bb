// The UNet's down, mid and up blocks (diffusers' ResnetDownsampleBlock2D, SimpleCrossAttnDownBlock2D,
// UNetMidBlock2DSimpleCrossAttn, SimpleCrossAttnUpBlock2D, ResnetUpsampleBlock2D). The "SimpleCrossAttn" blocks
// follow every resnet with an added-KV attention; all of them resample with a resnet (`downsamplers.0` /
// `upsamplers.0`) rather than a strided / upsampling conv.
import type { Value } from "../../runtime/graph.js";
import type { WeightView } from "../../weights/weight-view.js";
import type { UNetConfig } from "./config.js";
import { resnetBlock2D, type ResnetConfig, type Resample } from "./resnet.js";
import { addedKVAttention } from "./attention.js";

/** What every block sees besides its input: the time embedding and the cross-attention tokens. */
export interface BlockInputs {
  temb: Value;
  enc: Value;
}

function resnetConfig(c: UNetConfig, inC: number, outC: number, outputScale = c.resnetOutScale): ResnetConfig {
  return {
    inC, outC, tembC: c.timeEmbedDim, groups: c.normGroups, eps: c.normEps, act: c.act,
    timeNorm: c.resnetTimeNorm, skipTimeAct: c.resnetSkipTimeAct, outputScale,
  };
}

function attn(vb: WeightView, x: Value, enc: Value, c: UNetConfig, channels: number, headDim: number, onlyCross: boolean): Value {
  return addedKVAttention(vb, x, enc, { channels, headDim, crossDim: c.crossAttentionDim, groups: c.normGroups, onlyCross });
}

/** Down block `i`: returns its output and the skip connections it adds (one per resnet, plus the downsampled one). */
export function downBlock(vb: WeightView, c: UNetConfig, i: number, x: Value, inp: BlockInputs): { out: Value; skips: Value[] } {
  const outC = c.blockOutChannels[i];
  const inC = c.blockOutChannels[Math.max(i - 1, 0)];
  const withAttn = c.downBlockTypes[i] === "SimpleCrossAttnDownBlock2D";
  const skips: Value[] = [];
  for (let l = 0; l < c.layersPerBlock[i]; l++) {
    x = resnetBlock2D(vb.pp("resnets").pp(l), x, inp.temb, resnetConfig(c, l ? outC : inC, outC));
    if (withAttn) x = attn(vb.pp("attentions").pp(l), x, inp.enc, c, outC, c.attentionHeadDim[i], c.onlyCrossAttention[i]);
    skips.push(x);
  }
  if (i < c.blockOutChannels.length - 1) {
    x = resnetBlock2D(vb.pp("downsamplers").pp(0), x, inp.temb, resnetConfig(c, outC, outC), { kind: "down" });
    skips.push(x);
  }
  return { out: x, skips };
}

/** UNetMidBlock2DSimpleCrossAttn: resnet, attention, resnet at the deepest level. */
export function midBlock(vb: WeightView, c: UNetConfig, x: Value, inp: BlockInputs): Value {
  const n = c.blockOutChannels.length;
  const C = c.blockOutChannels[n - 1];
  const rc = resnetConfig(c, C, C, c.midBlockScaleFactor);
  x = resnetBlock2D(vb.pp("resnets").pp(0), x, inp.temb, rc);
  x = attn(vb.pp("attentions").pp(0), x, inp.enc, c, C, c.attentionHeadDim[n - 1], c.midBlockOnlyCrossAttention);
  return resnetBlock2D(vb.pp("resnets").pp(1), x, inp.temb, rc);
}

/**
 * Up block `i` (counted from the deepest): each resnet takes cat(x, the latest skip). `skips` is the stack the down
 * blocks built; this block pops its own, and upsamples to the size of the skip the next block starts with.
 */
export function upBlock(vb: WeightView, c: UNetConfig, i: number, x: Value, skips: Value[], inp: BlockInputs): Value {
  const g = x.graph;
  const n = c.blockOutChannels.length;
  const rev = [...c.blockOutChannels].reverse();
  const prevC = rev[Math.max(i - 1, 0)];
  const outC = rev[i];
  const inC = rev[Math.min(i + 1, n - 1)];
  const layers = c.layersPerBlock[n - 1 - i] + 1;
  const withAttn = c.upBlockTypes[i] === "SimpleCrossAttnUpBlock2D";
  for (let l = 0; l < layers; l++) {
    const skip = skips.pop();
    if (!skip) throw new Error(`up block ${i}: no skip connection left for resnet ${l}`);
    const skipC = l === layers - 1 ? inC : outC;
    x = resnetBlock2D(vb.pp("resnets").pp(l), g.concat([x, skip], 1), inp.temb, resnetConfig(c, (l ? outC : prevC) + skipC, outC));
    if (withAttn) x = attn(vb.pp("attentions").pp(l), x, inp.enc, c, outC, c.attentionHeadDim[n - 1 - i], c.onlyCrossAttention[n - 1 - i]);
  }
  if (i < n - 1) {
    const up: Resample = { kind: "up", like: skips[skips.length - 1] };
    x = resnetBlock2D(vb.pp("upsamplers").pp(0), x, inp.temb, resnetConfig(c, outC, outC), up);
  }
  return x;
}
