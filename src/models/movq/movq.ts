// VQModel (Kandinsky's MoVQ): encode = quant_conv(encoder(image)), no quantisation; decode = decoder(post_quant_conv(q), q)
// with q = the latents, or their nearest codebook entries when quantizing. Float32 at the graph boundary.
import type { Value } from "../../runtime/graph.js";
import type { WeightView } from "../../weights/weight-view.js";
import { conv2d } from "../../nn/conv.js";
import { floatInput, floatOutput, type NetworkSpec } from "../network.js";
import { parseVQModelConfig, type VQModelConfig } from "./config.js";
import { encoder, decoder } from "./vae.js";
import { vectorQuantize } from "./quantizer.js";

export function movqEncode(vb: WeightView, image: Value, c: VQModelConfig): Value {
  return conv2d(vb.pp("quant_conv"), encoder(vb.pp("encoder"), image, c), c.latentChannels, c.vqEmbedDim, { kernel: 1 });
}

export function movqDecode(vb: WeightView, latents: Value, c: VQModelConfig, quantize: boolean): Value {
  const q = quantize ? vectorQuantize(vb.pp("quantize"), latents, c.numVqEmbeddings, c.vqEmbedDim) : latents;
  const z = conv2d(vb.pp("post_quant_conv"), q, c.vqEmbedDim, c.latentChannels, { kernel: 1 });
  return decoder(vb.pp("decoder"), z, c.normType === "spatial" ? q : null, c);
}

/** latents [B, vq_embed_dim, h, w] → image [B, out_channels, h*f, w*f] (f = movqScaleFactor). */
export const MoVQDecodeSpec: NetworkSpec<VQModelConfig, { quantize: boolean }> = {
  classes: ["VQModel"],
  parseConfig: parseVQModelConfig,
  // No int8 form: its 3x3 convolutions in int8 (uint8 outputs at calibrated scales) made the decoded image
  // 12 dB PSNR from fp32's on the full-size random set, and the decode only 0.6-0.7x as long (README, int8).
  build(vb, c, { quantize }) {
    const latents = floatInput(vb, "latents", ["batch", c.vqEmbedDim, "height", "width"]);
    floatOutput(movqDecode(vb, latents, c, quantize), "image");
  },
};

/** image [B, in_channels, H, W] (H, W multiples of f) → latents [B, vq_embed_dim, H/f, W/f]. */
export const MoVQEncodeSpec: NetworkSpec<VQModelConfig> = {
  classes: ["VQModel"],
  parseConfig: parseVQModelConfig,
  build(vb, c) {
    const image = floatInput(vb, "image", ["batch", c.inChannels, "height", "width"]);
    floatOutput(movqEncode(vb, image, c), "latents");
  },
};
