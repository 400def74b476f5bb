// A schema-valid Input -> the library's GenerateRequest: images fetched and decoded, the checks a JSON
// schema cannot express (what each task needs) made here, each failure naming its field.
import { decodeImage, decodeMask, ImageTooLargeError } from "../image/io.js";
import type { GenerateRequest, MixItem } from "../pipelines/kandinsky.js";
import { InputError } from "./errors.js";
import { readImageUrl } from "./image-url.js";
import type { Input } from "./schema.js";
import type { UrlPolicy } from "./url-policy.js";

type Loc = (string | number)[];

export interface InputOptions {
  /** Whether the inpainting model is loaded. */
  canInpaint: boolean;
  /** Largest image input, read from its header before it is decoded. */
  maxInputPixels: number;
  urlPolicy: UrlPolicy;
}

type Decode<T> = (b: Uint8Array, o: { maxPixels: number }) => Promise<T>;

async function load<T>(url: string, loc: Loc, decode: Decode<T>, o: InputOptions): Promise<T> {
  let bytes: Uint8Array;
  try {
    bytes = await readImageUrl(url, o.urlPolicy);
  } catch (e) {
    throw new InputError(loc, (e as Error).message);
  }
  try {
    return await decode(bytes, { maxPixels: o.maxInputPixels });
  } catch (e) {
    if (e instanceof ImageTooLargeError) throw new InputError(loc, `${e.message} (--max-input-pixels)`);
    throw new InputError(loc, "is not an image this server can read (PNG, JPEG, WebP, GIF, TIFF, AVIF)");
  }
}

/** Checks and converts an input. */
export async function toGenerateRequest(input: Input, o: InputOptions): Promise<GenerateRequest> {
  const at = (field: string): Loc => ["body", "input", field];
  const { task } = input;
  const unused = (field: keyof Input, usedBy: string) => {
    if (input[field] !== undefined) throw new InputError(at(field), `is only used by task ${usedBy} (task is ${task})`);
  };
  if (task !== "img2img" && task !== "inpaint") unused("image", "img2img or inpaint");
  if (task !== "inpaint") unused("mask", "inpaint");
  if (task !== "mix") for (const f of ["mix_texts", "mix_images", "mix_weights"] as const) unused(f, "mix");
  if (task === "text2img" && !input.prompt) throw new InputError(at("prompt"), "is required for task text2img");
  if (task === "inpaint" && !o.canInpaint) {
    throw new InputError(at("task"), "inpaint needs the inpainting model (kandinsky-2-1-inpaint), which this server has not loaded");
  }
  for (const f of task === "inpaint" ? (["image", "mask"] as const) : task === "img2img" ? (["image"] as const) : []) {
    if (!input[f]) throw new InputError(at(f), `is required for task ${task}`);
  }

  const req: GenerateRequest = {
    task,
    prompt: input.prompt,
    negativePrompt: input.negative_prompt,
    width: input.width,
    height: input.height,
    steps: input.num_inference_steps,
    priorSteps: input.num_steps_prior,
    guidanceScale: input.guidance_scale,
    priorGuidanceScale: input.prior_guidance_scale,
    numOutputs: input.num_outputs,
    scheduler: input.scheduler,
    seed: input.seed,
    strength: input.strength,
  };
  if (input.image) req.image = await load(input.image, at("image"), decodeImage, o);
  if (input.mask) req.mask = await load(input.mask, at("mask"), decodeMask, o);
  if (task === "mix") req.mix = await mixItems(input, at, o);
  return req;
}

async function mixItems(input: Input, at: (field: string) => Loc, o: InputOptions): Promise<MixItem[]> {
  const texts = input.mix_texts ?? [];
  const urls = input.mix_images ?? [];
  const n = texts.length + urls.length;
  if (n === 0) throw new InputError(at("mix_texts"), "or mix_images must hold at least one item for task mix");
  if (input.num_outputs !== 1) throw new InputError(at("num_outputs"), "must be 1 for task mix");
  const weights = input.mix_weights ?? new Array<number>(n).fill(1 / n);
  if (weights.length !== n) {
    throw new InputError(at("mix_weights"), `must hold one weight per text and image: ${n} (${texts.length} texts, ${urls.length} images), got ${weights.length}`);
  }
  const images = await Promise.all(urls.map((u, i) => load(u, ["body", "input", "mix_images", i], decodeImage, o)));
  return [
    ...texts.map((text, i) => ({ text, weight: weights[i] })),
    ...images.map((im, i) => ({ image: im, weight: weights[texts.length + i] })),
  ];
}
