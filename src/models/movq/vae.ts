// diffusers' vae.Encoder (double_z off) and vae.Decoder as VQModel configures them.
import type { Value } from "../../runtime/graph.js";
import type { WeightView } from "../../weights/weight-view.js";
import { conv2d } from "../../nn/conv.js";
import { groupNorm } from "../../nn/norm.js";
import { activation } from "../../nn/activation.js";
import { downEncoderBlock, upDecoderBlock, midBlock } from "./blocks.js";
import { normalize, type NormSpec } from "./spatial-norm.js";
import type { VQModelConfig } from "./config.js";

const EPS = 1e-6;

/** image [B, in_channels, H, W] → [B, latent_channels, H/f, W/f]. */
export function encoder(vb: WeightView, x: Value, c: VQModelConfig): Value {
  const ch = c.blockOutChannels, top = ch[ch.length - 1];
  const norm: NormSpec = { groups: c.normNumGroups, eps: EPS };
  x = conv2d(vb.pp("conv_in"), x, c.inChannels, ch[0], { kernel: 3, padding: 1 });
  c.downBlockTypes.forEach((type, i) => {
    const args = { inC: ch[Math.max(i - 1, 0)], outC: ch[i], layers: c.layersPerBlock, attention: type === "AttnDownEncoderBlock2D", norm, act: c.actFn };
    x = downEncoderBlock(vb.pp("down_blocks").pp(i), x, args, i < ch.length - 1);
  });
  x = midBlock(vb.pp("mid_block"), x, top, norm, c.actFn);
  x = activation(c.actFn, groupNorm(vb.pp("conv_norm_out"), x, c.normNumGroups, top, EPS));
  return conv2d(vb.pp("conv_out"), x, top, c.latentChannels, { kernel: 3, padding: 1 });
}

/**
 * z [B, latent_channels, h, w] → image [B, out_channels, h*f, w*f]. With norm_type "spatial", every norm is a
 * SpatialNorm conditioned on `zq` (the latents before post_quant_conv).
 */
export function decoder(vb: WeightView, z: Value, zq: Value | null, c: VQModelConfig): Value {
  const ch = [...c.blockOutChannels].reverse();
  const norm: NormSpec = { groups: c.normNumGroups, eps: EPS };
  if (zq) norm.spatial = { zq, channels: c.latentChannels };
  let x = conv2d(vb.pp("conv_in"), z, c.latentChannels, ch[0], { kernel: 3, padding: 1 });
  x = midBlock(vb.pp("mid_block"), x, ch[0], norm, c.actFn);
  c.upBlockTypes.forEach((type, i) => {
    const args = { inC: ch[Math.max(i - 1, 0)], outC: ch[i], layers: c.layersPerBlock + 1, attention: type === "AttnUpDecoderBlock2D", norm, act: c.actFn };
    x = upDecoderBlock(vb.pp("up_blocks").pp(i), x, args, i < ch.length - 1);
  });
  const last = ch[ch.length - 1];
  x = activation(c.actFn, normalize(vb.pp("conv_norm_out"), x, last, norm));
  return conv2d(vb.pp("conv_out"), x, last, c.outChannels, { kernel: 3, padding: 1 });
}
