// What `npm run bench` measures: one network call per item, with the inputs the pipelines feed it at the seed
// model's settings (77 tokens; prior and UNet at batch 2 for classifier-free guidance; MoVQ at batch 1).
// Every size below the pipeline's own (batch, tokens, image size) comes from the component's config.
import { join } from "node:path";
import type { NetworkSpec } from "../src/models/network.js";
import { ClipTextSpec, ClipVisionSpec } from "../src/models/clip.js";
import { MClipSpec } from "../src/models/mclip.js";
import { PriorSpec } from "../src/models/prior.js";
import { UNetSpec } from "../src/models/unet/unet.js";
import { MoVQDecodeSpec } from "../src/models/movq/movq.js";
import { movqScaleFactor, parseVQModelConfig } from "../src/models/movq/config.js";
import { getNewHW } from "../src/pipelines/latents.js";
import { readConfig } from "../src/weights/config.js";
import type { Elem } from "../src/runtime/onnx-schema.js";
import type { HostArray } from "../src/runtime/session.js";

/** Text tokens per prompt (both Kandinsky 2.1 pipelines pad to 77). */
export const TOKENS = 77;
/** Conditional + unconditional rows. */
const GUIDED = 2;
/** Timesteps are drawn from the seed model's training schedule (num_train_timesteps of its schedulers). */
const TRAIN_TIMESTEPS = 1000;

export interface BenchItem {
  name: string;
  label: string;
  /** Component folder inside the model set. */
  component: string;
  spec: NetworkSpec<any, any>;
  variant: unknown;
  /** Input dims by graph input name, from the parsed config and the set's latent size for an image size. */
  dims(cfg: any, latent: (px: number) => number): Record<string, number[]>;
  /** Value ranges [lo, hi) of inputs (token ids, timesteps), from the parsed config; other floats are in [-1, 1). */
  ranges?(cfg: any): Record<string, [number, number]>;
}

const unet = (px: number): BenchItem => ({
  name: `unet${px}`, label: `UNet step ${px}x${px}, batch ${GUIDED}`, component: "decoder/unet", spec: UNetSpec, variant: undefined,
  dims: (c, latent) => ({
    sample: [GUIDED, c.inChannels, latent(px), latent(px)], timestep: [1], encoder_hidden_states: [GUIDED, TOKENS, c.encoderHidDim],
    text_embeds: [GUIDED, c.crossAttentionDim], image_embeds: [GUIDED, c.crossAttentionDim],
  }),
  ranges: () => ({ timestep: [0, TRAIN_TIMESTEPS] }),
});

const movq = (px: number): BenchItem => ({
  name: `movq${px}`, label: `MoVQ decode ${px}x${px}`, component: "decoder/movq", spec: MoVQDecodeSpec, variant: { quantize: false },
  dims: (c, latent) => ({ latents: [1, c.vqEmbedDim, latent(px), latent(px)] }),
});

export const ITEMS: BenchItem[] = [
  {
    name: "clip_text", label: `CLIP text, batch ${GUIDED}`, component: "prior/text_encoder", spec: ClipTextSpec, variant: { withMask: false },
    dims: () => ({ input_ids: [GUIDED, TOKENS] }),
    ranges: (c) => ({ input_ids: [0, c.vocab] }),
  },
  {
    name: "clip_vision", label: "CLIP vision (zero image embeds)", component: "prior/image_encoder", spec: ClipVisionSpec, variant: undefined,
    dims: (c) => ({ pixel_values: [1, c.channels, c.imageSize, c.imageSize] }),
  },
  {
    name: "prior", label: `prior step, batch ${GUIDED}`, component: "prior/prior", spec: PriorSpec, variant: undefined,
    dims: (c) => ({
      hidden_states: [GUIDED, c.embeddingDim], timestep: [1], proj_embedding: [GUIDED, c.embeddingProjDim],
      encoder_hidden_states: [GUIDED, c.numEmbeddings, c.embeddingDim], attention_mask: [GUIDED, c.numEmbeddings],
    }),
    ranges: () => ({ timestep: [0, TRAIN_TIMESTEPS], attention_mask: [1, 2] }),
  },
  {
    name: "mclip", label: `MultilingualCLIP, batch ${GUIDED}`, component: "decoder/text_encoder", spec: MClipSpec, variant: undefined,
    dims: () => ({ input_ids: [GUIDED, TOKENS], attention_mask: [GUIDED, TOKENS] }),
    // Ids past the special tokens (pad = 1 would be masked); every position attended.
    ranges: (c) => ({ input_ids: [4, c.encoder.vocab], attention_mask: [1, 2] }),
  },
  unet(512),
  unet(768),
  movq(512),
  movq(768),
];

export function itemDir(models: string, item: BenchItem): string {
  return join(models, item.component);
}

/** The latent size the decoder pipeline uses for an image size (diffusers' get_new_h_w with the set's MoVQ). */
export function latentSize(models: string): (px: number) => number {
  const f = movqScaleFactor(parseVQModelConfig(readConfig(join(models, "decoder/movq"))));
  return (px) => getNewHW(px, px, f)[0];
}

/** A deterministic generator of inputs (one set per `seed`): values uniform in their range, floats in [-1, 1) by default. */
export function makeFeeds(elems: Record<string, Elem>, dims: Record<string, number[]>, ranges: Record<string, [number, number]> = {},
  seed = 0x2545f491): Record<string, HostArray> {
  let s = seed;
  const next = () => {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  const feeds: Record<string, HostArray> = {};
  for (const [name, elem] of Object.entries(elems)) {
    const d = dims[name];
    if (!d) throw new Error(`no bench shape for graph input "${name}"`);
    const n = d.reduce((a, b) => a * b, 1);
    const [lo, hi] = ranges[name] ?? (elem === "float32" ? [-1, 1] : [0, 2]);
    const int = () => lo + Math.floor(next() * (hi - lo));
    switch (elem) {
      case "float32": feeds[name] = { data: Float32Array.from({ length: n }, () => lo + next() * (hi - lo)), dims: d }; break;
      case "int64": feeds[name] = { data: BigInt64Array.from({ length: n }, () => BigInt(int())), dims: d }; break;
      case "bool": feeds[name] = { data: Uint8Array.from({ length: n }, int), dims: d }; break;
      default: throw new Error(`graph input "${name}": no bench inputs of type ${elem}`);
    }
  }
  return feeds;
}
