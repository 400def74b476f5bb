// A schema-valid Input -> the library's GenerateRequest: images fetched and decoded, the checks a JSON
// schema cannot express (what each task needs) made here, each failure naming its field.
import { decodeImage, decodeMask } from "../image/io.js";
import type { GrayImage, RgbImage } from "../image/rgb.js";
import type { GenerateRequest, MixItem } from "../pipelines/kandinsky.js";
import { InputError } from "./errors.js";
import { readImageUrl } from "./image-url.js";
import type { Input } from "./schema.js";

type Loc = (string | number)[];

async function load<T>(url: string, loc: Loc, decode: (b: Uint8Array) => Promise<T>): Promise<T> {
  let bytes: Uint8Array;
  try {
    bytes = await readImageUrl(url);
  } catch (e) {
    throw new InputError(loc, (e as Error).message);
  }
  try {
    return await decode(bytes);
  } catch {
    throw new InputError(loc, "is not an image this server can read (PNG, JPEG, WebP, GIF, TIFF, AVIF)");
  }
}

const image = (url: string, loc: Loc) => load<RgbImage>(url, loc, decodeImage);
const mask = (url: string, loc: Loc) => load<GrayImage>(url, loc, decodeMask);

/** Checks and converts an input; `canInpaint` says whether the inpainting model is loaded. */
export async function toGenerateRequest(input: Input, canInpaint: boolean): Promise<GenerateRequest> {
  const at = (field: string): Loc => ["body", "input", field];
  const { task } = input;
  const unused = (field: keyof Input, usedBy: string) => {
    if (input[field] !== undefined) throw new InputError(at(field), `is only used by task ${usedBy} (task is ${task})`);
  };
  if (task !== "img2img" && task !== "inpaint") unused("image", "img2img or inpaint");
  if (task !== "inpaint") unused("mask", "inpaint");
  if (task !== "mix") for (const f of ["mix_texts", "mix_images", "mix_weights"] as const) unused(f, "mix");
  if (task === "text2img" && !input.prompt) throw new InputError(at("prompt"), "is required for task text2img");
  if (task === "inpaint" && !canInpaint) {
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
    precision: input.precision,
  };
  if (input.image) req.image = await image(input.image, at("image"));
  if (input.mask) req.mask = await mask(input.mask, at("mask"));
  if (task === "mix") req.mix = await mixItems(input, at);
  return req;
}

async function mixItems(input: Input, at: (field: string) => Loc): Promise<MixItem[]> {
  const texts = input.mix_texts ?? [];
  const urls = input.mix_images ?? [];
  const n = texts.length + urls.length;
  if (n === 0) throw new InputError(at("mix_texts"), "or mix_images must hold at least one item for task mix");
  if (input.num_outputs !== 1) throw new InputError(at("num_outputs"), "must be 1 for task mix");
  const weights = input.mix_weights ?? new Array<number>(n).fill(1 / n);
  if (weights.length !== n) {
    throw new InputError(at("mix_weights"), `must hold one weight per text and image: ${n} (${texts.length} texts, ${urls.length} images), got ${weights.length}`);
  }
  const images = await Promise.all(urls.map((u, i) => image(u, ["body", "input", "mix_images", i])));
  return [
    ...texts.map((text, i) => ({ text, weight: weights[i] })),
    ...images.map((im, i) => ({ image: im, weight: weights[texts.length + i] })),
  ];
}
