// The decoder: MultilingualCLIP text encoding, UNet denoising conditioned on the prior's image embeddings, MoVQ
// decoding — diffusers' KandinskyPipeline, KandinskyImg2ImgPipeline and KandinskyInpaintPipeline on the shared
// denoising loop, each mode supplying only its start latents.
import { join } from "node:path";
import type { NoiseSource } from "../noise/noise-source.js";
import { MClipSpec } from "../models/mclip.js";
import { UNetSpec, UNET_OUTPUT } from "../models/unet/unet.js";
import { MoVQDecodeSpec, MoVQEncodeSpec } from "../models/movq/movq.js";
import { movqScaleFactor, parseVQModelConfig, type VQModelConfig } from "../models/movq/config.js";
import { readConfig } from "../weights/config.js";
import type { Scheduler } from "../schedulers/scheduler.js";
import type { TimestepChain } from "../schedulers/chain.js";
import type { Components } from "./components.js";
import type { Precision } from "../runtime/precision.js";
import { concatChannels, repeatBatch, scale, spreadBatch, tensor, type HostTensor } from "../runtime/host-tensor.js";
import { floatFeed, runOne, textStates, tokenFeed, type TokenRows } from "./feeds.js";
import { checkCancelled, type Progress } from "./progress.js";
import { getNewHW, img2imgAddNoise, img2imgNoiseTimestep, inpaintMask, maskLatents } from "./latents.js";
import { conditioning, denoise, guideUnetOutput, startLatents, textConditioning } from "./denoise.js";

export type DecoderMode =
  | { kind: "text2img"; latents?: HostTensor }
  | { kind: "img2img"; image: HostTensor; strength: number }
  /** `mask`: [H, W] float, 1 = repaint (diffusers' convention). */
  | { kind: "inpaint"; image: HostTensor; mask: HostTensor; latents?: HostTensor };

export interface DecoderArgs {
  cond: TokenRows;
  uncond: TokenRows;
  imageEmbeds: HostTensor;
  negativeImageEmbeds: HostTensor;
  numImagesPerPrompt: number;
  height: number;
  width: number;
  steps: number;
  guidanceScale: number;
  scheduler: Scheduler;
  noise: NoiseSource;
  mode: DecoderMode;
  progress?: Progress;
  signal?: AbortSignal;
  /** Attach a cheap preview of the current x0 estimate to each progress event. */
  preview?: boolean;
  /** Precision of the UNet (default fp32). */
  precision?: Precision;
}

export interface DecoderResult {
  finalLatents: HostTensor;
  /** MoVQ output, NCHW in [-1, 1] (not clamped). */
  imageRaw: HostTensor;
}

export class DecoderPipeline {
  constructor(readonly repo: string, readonly components: Components) {}

  private movqConfig(): VQModelConfig {
    return parseVQModelConfig(readConfig(join(this.repo, "movq")));
  }

  /** Pixels per latent. */
  get movqScaleFactor(): number {
    return movqScaleFactor(this.movqConfig());
  }

  /** MultilingualCLIP: text_embeds and last_hidden_state per group of token rows, one session for all. */
  private async encodeText(groups: TokenRows[]) {
    return this.components.use(join(this.repo, "text_encoder"), MClipSpec, undefined, (s) =>
      textStates(s, groups, (rows) => ({ input_ids: tokenFeed(rows.ids), attention_mask: tokenFeed(rows.mask) })));
  }

  /** movq.encode(image).latents */
  async encodeImage(image: HostTensor): Promise<HostTensor> {
    return this.components.use(join(this.repo, "movq"), MoVQEncodeSpec, undefined, async (s) =>
      runOne(await s.run({ image: floatFeed(image) }), "latents"));
  }

  async decodeLatents(latents: HostTensor): Promise<HostTensor> {
    return this.components.use(join(this.repo, "movq"), MoVQDecodeSpec, { quantize: false }, async (s) =>
      runOne(await s.run({ latents: floatFeed(latents) }), "image"));
  }

  async run(a: DecoderArgs): Promise<DecoderResult> {
    const n = a.numImagesPerPrompt;
    const doCfg = a.guidanceScale > 1;
    const { embeds, hidden } = textConditioning(await this.encodeText(doCfg ? [a.cond, a.uncond] : [a.cond]), n);
    const imageEmbeds = conditioning(a.imageEmbeds, doCfg ? a.negativeImageEmbeds : undefined, n);

    const movq = this.movqConfig();
    const latentChannels = movq.latentChannels;
    const [h, w] = getNewHW(a.height, a.width, movqScaleFactor(movq));
    const shape = [a.cond.ids.length * n, latentChannels, h, w];
    const start = await this.start(a.mode, { scheduler: a.scheduler, chain: a.scheduler.chain(a.steps), shape, noise: a.noise });
    const extra = start.extra && (doCfg ? repeatBatch(start.extra, 2) : start.extra);

    const latents = await this.components.use(join(this.repo, "unet"), UNetSpec, undefined, (session) => denoise({
      session, chain: start.chain, latents: start.latents, output: UNET_OUTPUT, noise: a.noise,
      feeds: (x) => ({
        sample: floatFeed(extra ? concatChannels(x, extra) : x),
        encoder_hidden_states: floatFeed(hidden),
        text_embeds: floatFeed(embeds),
        image_embeds: floatFeed(imageEmbeds),
      }),
      guide: doCfg ? (out) => guideUnetOutput(out, latentChannels, a.guidanceScale) : undefined,
      stage: "decoder", progress: a.progress, signal: a.signal, preview: a.preview ? latentPreview : undefined,
    }), a.precision);
    checkCancelled(a.signal);
    const imageRaw = await this.decodeLatents(latents);
    return { finalLatents: latents, imageRaw };
  }

  /** Each mode's latent preparation (prepare_latents of the reference's three pipelines). */
  private async start(mode: DecoderMode, c: StartContext): Promise<Start> {
    const batch = c.shape[0], sigma = c.scheduler.initNoiseSigma;
    switch (mode.kind) {
      case "text2img":
        return { chain: c.chain, latents: startLatents(c.noise, c.shape, "pipeline_kandinsky.prepare_latents", sigma, mode.latents) };
      case "img2img": {
        const latentTimestep = img2imgNoiseTimestep(mode.strength, c.scheduler.numTrainTimesteps);
        const chain = c.chain.from(mode.strength);
        const scaled = scale(spreadBatch(await this.encodeImage(mode.image), batch), sigma);
        const noise = c.noise.randn(scaled.shape, "pipeline_kandinsky_img2img.prepare_latents");
        return { chain, latents: tensor(img2imgAddNoise(scaled, noise, latentTimestep), scaled.shape) };
      }
      case "inpaint": {
        const encoded = await this.encodeImage(mode.image);
        const mask = inpaintMask(mode.mask, encoded.shape[2], encoded.shape[3]);
        const maskedImage = tensor(maskLatents(encoded, mask), encoded.shape);
        const extra = concatChannels(spreadBatch(maskedImage, batch), spreadBatch(mask, batch));
        const latents = startLatents(c.noise, c.shape, "pipeline_kandinsky_inpaint.prepare_latents", sigma, mode.latents);
        return { chain: c.chain, latents, extra };
      }
    }
  }
}

interface StartContext {
  scheduler: Scheduler;
  /** The scheduler's chain of the requested steps. */
  chain: TimestepChain;
  /** The latents' shape: [batch, latent channels, h, w]. */
  shape: number[];
  noise: NoiseSource;
}

/** Where a mode starts the denoising loop. */
interface Start {
  latents: HostTensor;
  chain: TimestepChain;
  /** inpaint: cat([masked image latents, mask]) on channels, per batch row, fed to the UNet after the latents. */
  extra?: HostTensor;
}

/**
 * A cheap preview of latents, without running MoVQ: the first image's first three latent channels, each
 * stretched to 0..255, at latent resolution. Shows layout and progress, not colours.
 */
export function latentPreview(latents: HostTensor): { width: number; height: number; data: Uint8Array } {
  const [, c, h, w] = latents.shape;
  const hw = h * w;
  const data = new Uint8Array(hw * 3);
  for (let ch = 0; ch < 3; ch++) {
    const plane = latents.data.subarray(Math.min(ch, c - 1) * hw, (Math.min(ch, c - 1) + 1) * hw);
    let lo = Infinity, hi = -Infinity;
    for (const v of plane) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const k = hi > lo ? 255 / (hi - lo) : 0;
    for (let i = 0; i < hw; i++) data[i * 3 + ch] = Math.round((plane[i] - lo) * k);
  }
  return { width: w, height: h, data };
}
