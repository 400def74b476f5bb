// The VQ autoencoder's blocks: DownEncoderBlock2D / AttnDownEncoderBlock2D, UpDecoderBlock2D /
// AttnUpDecoderBlock2D (resnets, each optionally followed by attention, then a resampler) and UNetMidBlock2D.
import type { Value } from "../../runtime/graph.js";
import type { WeightView } from "../../weights/weight-view.js";
import { resnetBlock, downsample, upsample } from "./resnet.js";
import { attnBlock } from "./attention.js";
import type { NormSpec } from "./spatial-norm.js";

export interface BlockArgs {
  inC: number;
  outC: number;
  layers: number;
  attention: boolean;
  norm: NormSpec;
  act: string;
}

function resnets(vb: WeightView, x: Value, a: BlockArgs): Value {
  for (let i = 0; i < a.layers; i++) {
    x = resnetBlock(vb.pp("resnets").pp(i), x, i === 0 ? a.inC : a.outC, a.outC, a.norm, a.act);
    if (a.attention) x = attnBlock(vb.pp("attentions").pp(i), x, a.outC, a.norm);
  }
  return x;
}

export function downEncoderBlock(vb: WeightView, x: Value, a: BlockArgs, addDownsample: boolean): Value {
  x = resnets(vb, x, a);
  return addDownsample ? downsample(vb.pp("downsamplers").pp(0), x, a.outC) : x;
}

export function upDecoderBlock(vb: WeightView, x: Value, a: BlockArgs, addUpsample: boolean): Value {
  x = resnets(vb, x, a);
  return addUpsample ? upsample(vb.pp("upsamplers").pp(0), x, a.outC) : x;
}

/** UNetMidBlock2D with one attention layer: resnet, attention, resnet. */
export function midBlock(vb: WeightView, x: Value, channels: number, norm: NormSpec, act: string): Value {
  x = resnetBlock(vb.pp("resnets").pp(0), x, channels, channels, norm, act);
  x = attnBlock(vb.pp("attentions").pp(0), x, channels, norm);
  return resnetBlock(vb.pp("resnets").pp(1), x, channels, channels, norm, act);
}
