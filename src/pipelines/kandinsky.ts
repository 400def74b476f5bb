// The library API: text / images in, images out, for every Kandinsky 2.1 task. Prior and decoder share one
// noise source, as diffusers' combined pipelines share one generator, so `seed: N` reproduces diffusers
// with `torch.Generator("cpu").manual_seed(N)`.
import { join } from "node:path";
import type { NoiseSource } from "../noise/noise-source.js";
import { SeededNoise } from "../noise/noise-source.js";
import { DECODER_MAX_LENGTH, loadPipelineTokenizer, modelMaxLength, type TextTokenizer } from "../tokenizers/index.js";
import { ClipImageProcessor } from "../image/clip-processor.js";
import { prepareImageTensor, prepareInpaintMask, decoderOutputToImageNp, imageNpToUint8, uint8ToRgbImages } from "../image/convert.js";
import { cropTopLeft, type RgbImage, type GrayImage } from "../image/rgb.js";
import { createDecoderScheduler, type Scheduler, type SchedulerName } from "../schedulers/index.js";
import type { GenerateRequest, MixItem, ResolvedRequest, Task } from "../request/fields.js";
import { RequestError, resolveRequest } from "../request/resolve.js";
import { ConfigError } from "../weights/config.js";
import { checkRole, RoleError, ROLE_MODELS, type Role } from "./roles.js";
import { Components, type EngineOptions, type ModelDirs } from "./components.js";
import { PriorPipeline, interpolate, type InterpolateItem, type PriorResult } from "./prior.js";
import { DecoderPipeline, type DecoderMode, type DecoderResult } from "./decoder.js";
import { getNewHW } from "./latents.js";
import type { HostTensor } from "../runtime/host-tensor.js";
import type { TokenRows } from "./feeds.js";
import type { Progress } from "./progress.js";
import { UNetSpec } from "../models/unet/unet.js";
import { CALIBRATION_ID, CALIBRATION_JOB, CALIBRATION_PROMPTS, calibrationInpaint } from "./calibration.js";

export { RequestError, resolveRequest, type ResolvedRequest, type GenerateRequest, type MixItem, type Task };

export interface GenerateResult {
  images: RgbImage[];
  seed: number;
}

export interface RunControl {
  progress?: Progress;
  signal?: AbortSignal;
  /** Replaces the seeded generator (e.g. recorded noise). */
  noise?: NoiseSource;
  /** Attach a cheap latent preview to decoder progress events. */
  preview?: boolean;
}

export interface RawResult {
  prior: PriorResult;
  decoded: DecoderResult;
  seed: number;
}

/** MoVQ output → uint8 images, exactly as the reference converts them (clamp(x·0.5+0.5), round(·255)). */
export function toImages(imageRaw: HostTensor): RgbImage[] {
  return uint8ToRgbImages(imageNpToUint8(decoderOutputToImageNp(imageRaw)));
}

export class Kandinsky {
  readonly components: Components;
  readonly prior: PriorPipeline;
  private decoders = new Map<string, DecoderPipeline>();
  private priorChecked = false; // the prior folder holds a prior (checked on the first run)
  private tokenizers = new Map<string, TextTokenizer>();

  constructor(readonly dirs: ModelDirs, opts: EngineOptions) {
    this.components = new Components(opts, CALIBRATION_ID);
    this.prior = new PriorPipeline(dirs.prior, this.components);
  }

  /** The decoder of a task, its folder checked to hold that kind of decoder. */
  decoder(task: Task): DecoderPipeline {
    const role = task === "inpaint" ? "inpaint" : "decoder";
    const dir = this.dirs[role];
    if (!dir) throw new RequestError(`${task} needs the ${ROLE_MODELS[role].name} model (${ROLE_MODELS[role].repo})`);
    const key = `${role}|${dir}`;
    let d = this.decoders.get(key);
    if (!d) {
      checkFolder(role, dir);
      this.decoders.set(key, (d = new DecoderPipeline(dir, this.components)));
    }
    return d;
  }

  /** A pipeline folder's tokenizer, as its model_index.json names it. */
  private tokenizer(dir: string): TextTokenizer {
    let t = this.tokenizers.get(dir);
    if (!t) this.tokenizers.set(dir, (t = loadPipelineTokenizer(dir)));
    return t;
  }

  /** Token rows as the prior pipeline makes them: padded and truncated to its tokenizer's model_max_length. */
  priorTokens(texts: string[]): TokenRows {
    const tok = this.tokenizer(this.dirs.prior);
    return rows(tok, texts, modelMaxLength(tok));
  }

  /** Token rows as a decoder pipeline makes them: padded and truncated to diffusers' literal 77. */
  decoderTokens(repo: string, texts: string[]): TokenRows {
    return rows(this.tokenizer(repo), texts, DECODER_MAX_LENGTH);
  }

  /** KandinskyPriorPipeline.__call__ on text. */
  async priorEmbeds(prompt: string, negativePrompt: string | undefined, n: number, steps: number, guidance: number,
                    noise: NoiseSource, ctl: RunControl = {}): Promise<PriorResult> {
    const hasNegative = negativePrompt !== undefined && negativePrompt !== null;
    const cond = hasNegative ? [prompt, negativePrompt] : [prompt];
    const uncond = hasNegative ? [negativePrompt, negativePrompt] : [""];
    return this.prior.run({
      cond: this.priorTokens(cond), uncond: this.priorTokens(uncond), hasNegative,
      numImagesPerPrompt: n, steps, guidanceScale: guidance, noise, progress: ctl.progress, signal: ctl.signal,
    });
  }

  /** KandinskyPriorPipeline.interpolate on texts and images. */
  async mixEmbeds(items: MixItem[], steps: number, guidance: number, noise: NoiseSource, ctl: RunControl = {}): Promise<PriorResult> {
    if (!items.length) throw new RequestError("mix needs at least one text or image");
    const empty = this.priorTokens([""]);
    const entries: InterpolateItem[] = items.map((it) => {
      if (it.text !== undefined) return { text: { cond: this.priorTokens([it.text]), uncond: empty } };
      if (it.image) return { pixelValues: this.clipProcessor().preprocess([it.image]) };
      throw new RequestError("each mix item needs a text or an image");
    });
    return interpolate(this.prior, {
      items: entries, weights: items.map((it) => it.weight), empty, steps, guidanceScale: guidance, noise,
      progress: ctl.progress, signal: ctl.signal,
    });
  }

  clipProcessor(): ClipImageProcessor {
    return ClipImageProcessor.fromFile(join(this.dirs.prior, "image_processor", "preprocessor_config.json"));
  }

  /**
   * Prior then decoder, sharing one noise source, as diffusers' combined pipelines share one generator: the
   * decoder gets the prompt once per image embedding and '' as its unconditional text. Returns the uncropped
   * tensors at the reference's rounded size.
   */
  async run(req: GenerateRequest, ctl: RunControl = {}): Promise<RawResult> {
    const r = resolveRequest(req);
    const { task, seed } = r;
    // Everything the request needs from the model folders is resolved before the first network runs: the folders'
    // roles, the decoder's scheduler, both tokenizers (their files checked), the MoVQ's scale.
    if (!this.priorChecked) checkFolder("prior", this.dirs.prior);
    this.priorChecked = true;
    const decoder = this.decoder(task);
    const scheduler = this.decoderScheduler(r.scheduler, decoder.repo);
    modelMaxLength(this.tokenizer(this.dirs.prior));
    this.tokenizer(decoder.repo);
    const f = decoder.movqScaleFactor;
    const noise = ctl.noise ?? new SeededNoise(seed);
    const prompt = r.prompt ?? "";

    const prior = task === "mix"
      ? await this.mixEmbeds(r.mix!, r.priorSteps, r.priorGuidanceScale, noise, ctl)
      : await this.priorEmbeds(prompt, r.negativePrompt, r.numOutputs, r.priorSteps, r.priorGuidanceScale, noise, ctl);

    const [lh, lw] = getNewHW(r.height, r.width, f);
    const [H, W] = [lh * f, lw * f];
    let mode: DecoderMode = { kind: "text2img" };
    if (task === "img2img" || task === "inpaint") {
      const image = prepareImageTensor(r.image!, W, H);
      mode = task === "img2img"
        ? { kind: "img2img", image, strength: r.strength }
        : { kind: "inpaint", image, mask: { data: prepareInpaintMask(r.mask!, W, H, r.invertMask), shape: [H, W] } };
    }
    const rows = prior.imageEmbeds.shape[0];
    const repo = decoder.repo;
    const decoded = await decoder.run({
      cond: this.decoderTokens(repo, new Array(rows).fill(task === "mix" ? "" : prompt)),
      uncond: this.decoderTokens(repo, new Array(rows).fill("")),
      imageEmbeds: prior.imageEmbeds, negativeImageEmbeds: prior.negativeImageEmbeds,
      numImagesPerPrompt: 1, height: H, width: W, steps: r.steps, guidanceScale: r.guidanceScale,
      scheduler, noise, mode, progress: ctl.progress, signal: ctl.signal,
      preview: ctl.preview, precision: r.precision,
    });
    return { prior, decoded, seed };
  }

  /** The decoder's scheduler; a fallback (DDPM for a repo without ddpm_scheduler/) is reported as a warning. */
  private decoderScheduler(name: SchedulerName, repo: string): Scheduler {
    try {
      return createDecoderScheduler(name, repo, { textToImageDir: this.dirs.decoder, onNote: this.components.opts.onWarning });
    } catch (e) {
      if (e instanceof ConfigError) throw new RequestError(`scheduler ${name}: ${e.message}`);
      throw e;
    }
  }

  /** Images of exactly the requested size. */
  async generate(req: GenerateRequest, ctl: RunControl = {}): Promise<GenerateResult> {
    const r = resolveRequest(req);
    if (r.precision === "int8") await this.calibrate(r.task, ctl.signal);
    const { decoded, seed } = await this.run(r, ctl);
    const { width, height } = r;
    // Generated at the rounded size; cropped to the request as the original implementation does (top-left).
    const images = toImages(decoded.imageRaw)
      .map((im) => (im.width === width && im.height === height ? im : cropTopLeft(im, width, height)));
    return { images, seed };
  }

  /**
   * Calibrates the int8 networks of a task's decoder if that is not done yet: once per model set, a short float job
   * on our own prompts (calibration.ts) whose ranges are kept in the cache folder.
   */
  async calibrate(task: Task, signal?: AbortSignal): Promise<void> {
    const decoder = this.decoder(task);
    if (await this.components.calibrated(join(decoder.repo, "unet"), UNetSpec, undefined)) return;
    this.components.opts.onWarning?.(`int8: calibrating ${decoder.repo} (a short float job on our own prompts, once for these weights)`);
    const inpaint = task === "inpaint" ? calibrationInpaint(CALIBRATION_JOB.width!, CALIBRATION_JOB.height!) : undefined;
    await this.components.calibrate(async () => {
      for (const prompt of CALIBRATION_PROMPTS) {
        await this.run({ ...CALIBRATION_JOB, prompt, task: inpaint ? "inpaint" : "text2img", ...inpaint }, { signal });
      }
    });
  }

  async close(): Promise<void> {
    await this.components.releaseAll();
  }
}

/** checkRole, its failure a RequestError: the request cannot run on these folders. */
function checkFolder(role: Role, dir: string): void {
  try {
    checkRole(role, dir);
  } catch (e) {
    if (e instanceof RoleError) throw new RequestError(e.message);
    throw e;
  }
}

function rows(tok: TextTokenizer, texts: string[], maxLength: number): TokenRows {
  const enc = texts.map((t) => tok.encode(t, { maxLength }));
  return { ids: enc.map((e) => e.inputIds), mask: enc.map((e) => e.attentionMask) };
}
