// UNet2DConditionModel as Kandinsky 2.1 configures it (decoder and inpaint UNets).
//
// Graph inputs (float32 at the boundary; cast to the compute type inside):
//   sample                [B, in_channels, H, W]   latents (inpaint: cat(latents, masked latents, mask))
//   timestep              [N]                      N = 1 (broadcast to the batch) or B
//   encoder_hidden_states [B, L, encoder_hid_dim]  text encoder hidden states
//   text_embeds           [B, cross_attention_dim] pooled text embedding
//   image_embeds          [B, cross_attention_dim] CLIP image embedding
// Output: noise_pred (UNET_OUTPUT) [B, out_channels, H, W] — diffusers' `sample`, renamed since ONNX forbids an
// output named like an input.
// B, L, H and W are symbolic: one graph serves every batch and latent size. The reference needs H and W divisible
// by 2^(blocks-1) (its up-resampling is a plain x2); here each up-resampling takes the size of the skip connection
// it meets, which is x2 for those sizes and lets other sizes run too.
import type { Value } from "../../runtime/graph.js";
import type { WeightView } from "../../weights/weight-view.js";
import { floatInput, floatOutput, type NetworkSpec } from "../network.js";
import { conv2d } from "../../nn/conv.js";
import { groupNorm } from "../../nn/norm.js";
import { activation } from "../../nn/activation.js";
import { parseUNetConfig, type UNetConfig } from "./config.js";
import { textImageProjection, textImageTimeEmbedding, timestepEmbedding, timestepFeatures } from "./embeddings.js";
import { downBlock, midBlock, upBlock, type BlockInputs } from "./blocks.js";

/** The graph output's name. */
export const UNET_OUTPUT = "noise_pred";

export interface UNetInputs {
  sample: Value;
  /** float32 [1] or [B]. */
  timestep: Value;
  encoderHiddenStates: Value;
  textEmbeds: Value;
  imageEmbeds: Value;
}

/** The forward pass in the compute type of the weights; `timestep` stays float32 (the sinusoid is float32). */
export function unet(vb: WeightView, c: UNetConfig, x: UNetInputs): Value {
  const compute = vb.store.opts.compute;
  const ch0 = c.blockOutChannels[0];

  // Time embedding, conditioned on the text and image embeddings.
  const t = x.timestep.expand(x.sample.shape(0, 1));
  const feats = timestepFeatures(t, ch0, c.flipSinToCos, c.freqShift).cast(compute);
  let temb = timestepEmbedding(vb.pp("time_embedding"), feats, ch0, c.timeEmbedDim, c.act, c.timestepPostAct);
  temb = temb.add(textImageTimeEmbedding(vb.pp("add_embedding"), x.textEmbeds, x.imageEmbeds, c.crossAttentionDim, c.timeEmbedDim));
  if (c.timeEmbedAct) temb = activation(c.timeEmbedAct, temb);

  // Cross-attention tokens: image tokens, then projected text states.
  const enc = textImageProjection(vb.pp("encoder_hid_proj"), x.encoderHiddenStates, x.imageEmbeds, c.encoderHidDim,
    c.crossAttentionDim, c.imageTokens);
  const inp: BlockInputs = { temb, enc };

  let h = c.centerInputSample ? x.sample.mul(2).sub(1) : x.sample;
  h = conv2d(vb.pp("conv_in"), h, c.inChannels, ch0, { kernel: c.convInKernel, padding: (c.convInKernel - 1) >> 1 });
  const skips: Value[] = [h];
  c.downBlockTypes.forEach((_, i) => {
    const d = downBlock(vb.pp("down_blocks").pp(i), c, i, h, inp);
    h = d.out;
    skips.push(...d.skips);
  });
  h = midBlock(vb.pp("mid_block"), c, h, inp);
  c.upBlockTypes.forEach((_, i) => {
    h = upBlock(vb.pp("up_blocks").pp(i), c, i, h, skips, inp);
  });
  if (skips.length) throw new Error(`UNet: ${skips.length} skip connections left unused (block layout mismatch)`);

  h = activation(c.act, groupNorm(vb.pp("conv_norm_out"), h, c.normGroups, ch0, c.normEps));
  return conv2d(vb.pp("conv_out"), h, ch0, c.outChannels, { kernel: c.convOutKernel, padding: (c.convOutKernel - 1) >> 1 });
}

export const UNetSpec: NetworkSpec<UNetConfig> = {
  classes: ["UNet2DConditionModel"],
  parseConfig: parseUNetConfig,
  // Float: the first and last convolutions, the time and conditioning embeddings, and the resnets' projections of
  // the time embedding (two rows each: nothing to gain, and they set every block's scale and shift).
  int8: { keepFloat: /^(conv_in|conv_out|time_embedding|add_embedding|encoder_hid_proj)\.|\.time_emb_proj\./ },
  build(vb, c) {
    const out = unet(vb, c, {
      sample: floatInput(vb, "sample", ["batch", c.inChannels, "height", "width"]),
      // Sinusoid features are computed in float32 before the cast (as torch does).
      timestep: vb.graph.input("timestep", "float32", ["timesteps"]),
      encoderHiddenStates: floatInput(vb, "encoder_hidden_states", ["batch", "tokens", c.encoderHidDim]),
      textEmbeds: floatInput(vb, "text_embeds", ["batch", c.crossAttentionDim]),
      imageEmbeds: floatInput(vb, "image_embeds", ["batch", c.crossAttentionDim]),
    });
    floatOutput(out, UNET_OUTPUT);
  },
};
