// The prior: CLIP text encoding + PriorTransformer denoising with the UnCLIP scheduler → CLIP image embeddings,
// as diffusers' KandinskyPriorPipeline (__call__ and interpolate).
import { join } from "node:path";
import type { NoiseSource } from "../noise/noise-source.js";
import { ClipTextSpec, ClipVisionSpec, clipVisionConfig } from "../models/clip.js";
import { readConfig } from "../weights/config.js";
import { PriorSpec, readClipStats, postProcessLatents } from "../models/prior.js";
import { loadScheduler } from "../schedulers/index.js";
import { Checkpoint } from "../weights/checkpoint.js";
import type { Components } from "./components.js";
import { halves, repeatBatch, tensor, type HostTensor } from "../runtime/host-tensor.js";
import { floatFeed, runOne, textStates, tokenFeed, type TokenRows } from "./feeds.js";
import type { Progress } from "./progress.js";
import { classifierFreeGuidance, conditioning, denoise, startLatents, textConditioning } from "./denoise.js";

export interface PriorArgs {
  /** Prompt rows, and negative rows when a negative prompt is given (the reference's batch [prompts, negatives]). */
  cond: TokenRows;
  /** The unconditional rows: '' per prompt, or the negative prompt for every cond row. */
  uncond: TokenRows;
  /** True when `cond` ends with negative-prompt rows (their results become the negative embeddings). */
  hasNegative: boolean;
  numImagesPerPrompt: number;
  steps: number;
  guidanceScale: number;
  noise: NoiseSource;
  /** Initial latents instead of a draw. */
  latents?: HostTensor;
  progress?: Progress;
  signal?: AbortSignal;
}

export interface PriorResult {
  imageEmbeds: HostTensor;
  negativeImageEmbeds: HostTensor;
}

export class PriorPipeline {
  constructor(readonly repo: string, readonly components: Components) {}

  /** CLIP text: text_embeds and last_hidden_state per group of token rows (no attention mask, as the reference calls it). */
  private async encodeText(groups: TokenRows[]) {
    return this.components.use(join(this.repo, "text_encoder"), ClipTextSpec, { withMask: false }, (s) =>
      textStates(s, groups, (rows) => ({ input_ids: tokenFeed(rows.ids) })));
  }

  /** image_encoder(pixel_values).image_embeds */
  async encodeImage(pixelValues: HostTensor): Promise<HostTensor> {
    return this.components.use(join(this.repo, "image_encoder"), ClipVisionSpec, undefined, async (s) =>
      runOne(await s.run({ pixel_values: floatFeed(pixelValues) }), "image_embeds"));
  }

  /** The negative embedding without a negative prompt: the image encoder applied to all-zero pixel values. */
  async zeroImageEmbeds(batch: number): Promise<HostTensor> {
    const { channels, imageSize: size } = clipVisionConfig(readConfig(join(this.repo, "image_encoder")));
    const zero = await this.encodeImage(tensor(new Float32Array(channels * size * size), [1, channels, size, size]));
    return repeatBatch(zero, batch);
  }

  async run(a: PriorArgs): Promise<PriorResult> {
    const n = a.numImagesPerPrompt;
    const doCfg = a.guidanceScale > 1;
    const { embeds, hidden } = textConditioning(await this.encodeText(doCfg ? [a.cond, a.uncond] : [a.cond]), n);
    const mask = conditioning(maskTensor(a.cond), doCfg ? maskTensor(a.uncond) : undefined, n);
    const attentionMask = { data: Uint8Array.from(mask.data), dims: mask.shape };

    const scheduler = loadScheduler(join(this.repo, "scheduler"));
    const chain = scheduler.chain(a.steps);
    const batch = a.cond.ids.length * n;
    const priorDir = join(this.repo, "prior");
    let latents = await this.components.use(priorDir, PriorSpec, undefined, (session, cfg) => denoise({
      session, chain, output: "predicted_image_embedding", noise: a.noise,
      latents: startLatents(a.noise, [batch, cfg.embeddingDim], "pipeline_kandinsky_prior.prepare_latents", scheduler.initNoiseSigma, a.latents),
      feeds: (x) => ({
        hidden_states: floatFeed(x),
        proj_embedding: floatFeed(embeds),
        encoder_hidden_states: floatFeed(hidden),
        attention_mask: attentionMask,
      }),
      guide: doCfg ? (out) => classifierFreeGuidance(out, a.guidanceScale) : undefined,
      stage: "prior", progress: a.progress, signal: a.signal,
    }));

    latents = postProcessLatents(readClipStats(new Checkpoint(priorDir)), latents);
    if (a.hasNegative) {
      const [imageEmbeds, negativeImageEmbeds] = halves(latents);
      return { imageEmbeds, negativeImageEmbeds };
    }
    return { imageEmbeds: latents, negativeImageEmbeds: await this.zeroImageEmbeds(latents.shape[0]) };
  }
}

/** One entry of an interpolation: text (as prompt rows and their '' uncond rows) or CLIP pixel values. */
export type InterpolateItem = { text: { cond: TokenRows; uncond: TokenRows } } | { pixelValues: HostTensor };

export interface InterpolateArgs {
  items: InterpolateItem[];
  weights: number[];
  /** Token rows of '' (the final run's prompt and every run's uncond). */
  empty: TokenRows;
  steps: number;
  guidanceScale: number;
  noise: NoiseSource;
  progress?: Progress;
  signal?: AbortSignal;
}

/**
 * KandinskyPriorPipeline.interpolate: the weighted sum of the items' image embeddings; the negative embedding
 * comes from a final run with prompt '' (whose noise draws are consumed as the reference consumes them).
 */
export async function interpolate(prior: PriorPipeline, a: InterpolateArgs): Promise<PriorResult> {
  if (a.items.length !== a.weights.length) throw new Error(`${a.items.length} items but ${a.weights.length} weights`);
  const run = (cond: TokenRows, uncond: TokenRows) => prior.run({
    cond, uncond, hasNegative: false, numImagesPerPrompt: 1, steps: a.steps, guidanceScale: a.guidanceScale,
    noise: a.noise, progress: a.progress, signal: a.signal,
  });
  let sum: Float32Array | undefined;
  for (let i = 0; i < a.items.length; i++) {
    const it = a.items[i];
    const e = "text" in it ? (await run(it.text.cond, it.text.uncond)).imageEmbeds : await prior.encodeImage(it.pixelValues);
    sum ??= new Float32Array(e.shape[1]);
    // cat(weight * embeds).sum(dim=0, keepdim=True)
    for (let r = 0; r < e.shape[0]; r++) for (let j = 0; j < sum.length; j++) sum[j] += e.data[r * sum.length + j] * a.weights[i];
  }
  const zero = await run(a.empty, a.empty);
  return { imageEmbeds: tensor(sum!, [1, sum!.length]), negativeImageEmbeds: zero.negativeImageEmbeds };
}

function maskTensor(rows: TokenRows): HostTensor {
  return tensor(Float32Array.from(rows.mask.flat()), [rows.mask.length, rows.mask[0].length]);
}
