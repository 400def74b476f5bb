// VQModel (Kandinsky's MoVQ): encode = quant_conv(encoder(image)), no quantisation; decode = decoder(post_quant_conv(q), q)
// with q = the latents, or their nearest codebook entries when quantizing. Float32 at the graph boundary.
import type { Value } from "../../runtime/graph.js";
import type { WeightView } from "../../weights/weight-view.js";
import { conv2d } from "../../nn/conv.js";
import type { NetworkSpec } from "../network.js";
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
  build(vb, c, { quantize }) {
    const g = vb.graph;
    const latents = g.input("latents", "float32", ["batch", c.vqEmbedDim, "height", "width"]);
    g.output(movqDecode(vb, latents.cast(vb.store.opts.compute), c, quantize).cast("float32"), "image");
  },
};

/** image [B, in_channels, H, W] (H, W multiples of f) → latents [B, vq_embed_dim, H/f, W/f]. */
export const MoVQEncodeSpec: NetworkSpec<VQModelConfig> = {
  classes: ["VQModel"],
  parseConfig: parseVQModelConfig,
  build(vb, c) {
    const g = vb.graph;
    const image = g.input("image", "float32", ["batch", c.inChannels, "height", "width"]);
    g.output(movqEncode(vb, image.cast(vb.store.opts.compute), c).cast("float32"), "latents");
  },
};
