// The decoder: MultilingualCLIP text encoding, UNet denoising conditioned on the prior's image embeddings, MoVQ
// decoding — diffusers' KandinskyPipeline, KandinskyImg2ImgPipeline and KandinskyInpaintPipeline in one loop.
import { join } from "node:path";
import type { NoiseSource } from "../noise/noise-source.js";
import { MClipSpec } from "../models/mclip.js";
import { UNetSpec, UNET_OUTPUT } from "../models/unet/unet.js";
import { MoVQDecodeSpec, MoVQEncodeSpec } from "../models/movq/movq.js";
import { movqScaleFactor, parseVQModelConfig, type VQModelConfig } from "../models/movq/config.js";
import { readConfig } from "../weights/config.js";
import type { Scheduler } from "../schedulers/scheduler.js";
import type { Components } from "./components.js";
import { catBatch, concatChannels, repeatBatch, repeatInterleave, spreadBatch, tensor, type HostTensor } from "../runtime/host-tensor.js";
import { floatFeed, runOne, timestepFeed, tokenFeed, type TokenRows } from "./feeds.js";
import { checkCancelled, type Progress } from "./progress.js";
import {
  getNewHW, guideUnetOutput, img2imgAddNoise, img2imgNoiseTimestep, inpaintMask, maskLatents,
} from "./latents.js";

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
    return this.components.use(join(this.repo, "text_encoder"), MClipSpec, undefined, async (s) => {
      const res = [];
      for (const rows of groups) {
        const out = await s.run({ input_ids: tokenFeed(rows.ids), attention_mask: tokenFeed(rows.mask) });
        res.push({ embeds: runOne(out, "text_embeds"), hidden: runOne(out, "last_hidden_state") });
      }
      return res;
    });
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
    const batch = a.cond.ids.length * n;
    const rep = (t: HostTensor) => repeatInterleave(t, n);

    const [cond, unc] = await this.encodeText(doCfg ? [a.cond, a.uncond] : [a.cond]);
    let embeds = rep(cond.embeds), hidden = rep(cond.hidden);
    let imageEmbeds = rep(a.imageEmbeds);
    if (doCfg) {
      embeds = catBatch([rep(unc.embeds), embeds]);
      hidden = catBatch([rep(unc.hidden), hidden]);
      imageEmbeds = catBatch([rep(a.negativeImageEmbeds), imageEmbeds]);
    }

    const sched = a.scheduler;
    let chain = sched.chain(a.steps);
    const movq = this.movqConfig();
    const latentChannels = movq.latentChannels;
    const [h, w] = getNewHW(a.height, a.width, movqScaleFactor(movq));
    const shape = [batch, latentChannels, h, w];
    const initial = (given?: HostTensor, drawnBy = "pipeline_kandinsky.prepare_latents") => {
      const x = given ?? tensor(a.noise.randn(shape, drawnBy), shape);
      return tensor(x.data.map((v) => v * sched.initNoiseSigma), x.shape);
    };

    let latents: HostTensor;
    let extra: HostTensor | undefined; // inpaint: cat([masked_image, mask]) channels, per UNet batch row
    const mode = a.mode;
    if (mode.kind === "text2img") {
      latents = initial(mode.latents);
    } else if (mode.kind === "img2img") {
      const encoded = spreadBatch(await this.encodeImage(mode.image), batch);
      const latentTimestep = img2imgNoiseTimestep(mode.strength, sched.numTrainTimesteps);
      chain = chain.from(mode.strength);
      const scaled = tensor(encoded.data.map((v) => v * sched.initNoiseSigma), encoded.shape);
      const noise = a.noise.randn(scaled.shape, "pipeline_kandinsky_img2img.prepare_latents");
      latents = tensor(img2imgAddNoise(scaled, noise, latentTimestep), scaled.shape);
    } else {
      const encoded = await this.encodeImage(mode.image);
      const mask = inpaintMask(mode.mask, encoded.shape[2], encoded.shape[3]);
      const maskedImage = tensor(maskLatents(encoded, mask), encoded.shape);
      const cat = concatChannels(spreadBatch(maskedImage, batch), spreadBatch(mask, batch));
      extra = doCfg ? repeatBatch(cat, 2) : cat;
      latents = initial(mode.latents, "pipeline_kandinsky_inpaint.prepare_latents");
    }

    latents = await this.components.use(join(this.repo, "unet"), UNetSpec, undefined, async (s) => {
      let x = latents;
      for (let i = 0; i < chain.length; i++) {
        checkCancelled(a.signal);
        const t = chain.timesteps[i];
        let input = doCfg ? catBatch([x, x]) : x;
        if (extra) input = concatChannels(input, extra);
        const out = await s.run({
          sample: floatFeed(input),
          timestep: timestepFeed(s, t, input.shape[0]),
          encoder_hidden_states: floatFeed(hidden),
          text_embeds: floatFeed(embeds),
          image_embeds: floatFeed(imageEmbeds),
        });
        let pred = runOne(out, UNET_OUTPUT);
        if (doCfg) pred = guideUnetOutput(pred, latentChannels, a.guidanceScale);
        const step = chain.step(i, pred, x, a.noise);
        x = tensor(step.prevSample, x.shape);
        a.progress?.({
          stage: "decoder", step: i + 1, total: chain.length,
          preview: a.preview ? latentPreview(tensor(step.predOriginalSample, x.shape)) : undefined,
        });
      }
      return x;
    });
    checkCancelled(a.signal);
    const imageRaw = await this.decodeLatents(latents);
    return { finalLatents: latents, imageRaw };
  }
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
