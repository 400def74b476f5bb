// The request fields: one table that every surface derives from. Adding a field is one entry here; from it come
// the library's GenerateRequest / ResolvedRequest types and every check (resolve.ts), the command line's options
// and --help (cli/options.ts), the Cog input schema that validates predictions and is published in /openapi.json
// (server/schema.ts), the web form's limits, defaults and per-task visibility (read from /openapi.json), and the
// names the OpenAI and AUTOMATIC1111 APIs use.
//
// Exported API (stable; the OpenAI / A1111 routes and the scale-out work build on it):
//   FIELDS                  the table: library name -> FieldSpec (order = the order clients show fields in)
//   FIELD_KEYS              its keys, in order
//   FieldSpec, Kind, CliSpec, Api ("cog" | "openai" | "a1111")
//   FieldKey, RequestKey (library request fields), OutputKey (output encoding: format, quality)
//   GenerateRequest         what a library caller passes: every request field optional
//   ResolvedRequest         after resolveRequest (resolve.ts): task and seed decided, defaults filled
//   OutputRequest, ResolvedOutput   outputFormat / outputQuality, before and after resolveOutput (resolve.ts)
//   MixItem, Task, TASKS, inferTask(req)
//   LIMITS, LimitName, FieldLimits  the server settings that lower a maximum (serve --max-size, ...)
//   limitRange(name)                the values such a setting may take
//   fieldRange(key, limits?)        a field's range, narrowed by those settings: the one place they apply
//   SERVER_DEFAULT_KEYS, FieldDefaults  the fields whose default a server may set (serve --precision)
//   fieldDefault(key, defaults?)    a field's default, the server's where it sets one: the one place they apply
//   Range, rangeText(range)         a range, and in words ("from 16 to 4096")
//   COG_NAMES, OPENAI_NAMES, A1111_NAMES   an API's field name -> the fields it sets (size -> width, height)
//   apiNames(api, key)              a field's names in an API ([] when the API has none)
// A server API converts its body into a GenerateRequest + OutputRequest by these names and admits it through
// server/admit.ts (admitRequest: resolveRequest with the server's limits); a RequestError's `field` maps back to
// the API's name with apiNames.
import type { GrayImage, RgbImage } from "../image/rgb.js";
import { IMAGE_FORMATS } from "../image/formats.js";
import { randomSeed } from "../noise/noise-source.js";
import { SCHEDULER_NAMES } from "../schedulers/index.js";
import { PRECISIONS } from "../runtime/precision.js";

export const TASKS = ["text2img", "img2img", "inpaint", "mix"] as const;
export type Task = (typeof TASKS)[number];

export interface MixItem {
  text?: string;
  image?: RgbImage;
  weight: number;
}

/** The server settings that may lower a field's maximum, and their `kandinsky serve` flags. */
export const LIMITS = { maxSize: "--max-size", maxOutputs: "--max-outputs", maxSteps: "--max-steps" } as const;
export type LimitName = keyof typeof LIMITS;
export type FieldLimits = Partial<Record<LimitName, number>>;

export type Kind = "integer" | "number" | "string" | "boolean" | "enum" | "image" | "mask" | "mix";
export type Api = "cog" | "openai" | "a1111";

/** How the command line takes a field. */
export type CliSpec =
  /** An option: "--width <px>", or a switch: "--invert-mask". `note` replaces the default shown in --help. */
  | { flag: string; note?: string }
  /** A positional argument of the commands whose tasks read the field, `position` giving the order. */
  | { argument: string; position: number }
  /** Repeatable options the command builds the value from (mix: --text / --image, each weighed by --weight). */
  | { flags: readonly string[] }
  /** The command of each task. */
  | { commands: Readonly<Record<Task, string>> };

export interface FieldSpec {
  /** "request": a GenerateRequest field; "output": how the images are encoded (CLI, server; encodeImage). */
  group: "request" | "output";
  kind: Kind;
  /** One line, for --help and the schema. */
  description: string;
  /** enum: the values. */
  values?: readonly string[];
  minimum?: number;
  exclusiveMinimum?: number;
  maximum?: number;
  /** string (and each mix text): the longest. */
  maxLength?: number;
  /** mix: the most items, and each weight's range. */
  maxItems?: number;
  weights?: { minimum: number; maximum: number };
  /** What a form control steps by (it does not restrict values). */
  step?: number;
  /** The value when absent: a constant, or drawn from the request (task: inferred; seed: random, drawn once). */
  default?: unknown;
  /** The tasks that read the field (all when absent). */
  tasks?: readonly Task[];
  /** The tasks that need it. */
  requiredFor?: readonly Task[];
  /** The server setting that may lower `maximum`. */
  limit?: LimitName;
  /** A server may set the default (`kandinsky serve` takes the field's flag), for requests that do not give it. */
  serverDefault?: true;
  cli: CliSpec;
  /** The Cog input name (mix: its texts, images and weights). */
  cog: string | readonly string[];
  /** The web form's control (element id); the Cog name when absent. */
  form?: string;
  /** The OpenAI images API's name; `extra`: not OpenAI's own, taken as an extra body field. */
  openai?: { name: string; extra?: boolean };
  /** AUTOMATIC1111's names, the main one first (numOutputs = batch_size x n_iter; sampler_index aliases sampler_name). */
  a1111?: readonly string[];
}

/** Prompts, negative prompts and mix texts (the tokenizers keep 77 tokens; this bounds the request). */
const TEXT_MAX_LENGTH = 2000;
const TEXT_TASKS = ["text2img", "img2img", "inpaint"] as const;

/** The task a request asks for when it names none. */
export function inferTask(req: { mix?: unknown; mask?: unknown; image?: unknown }): Task {
  return req.mix ? "mix" : req.mask ? "inpaint" : req.image ? "img2img" : "text2img";
}

// Defaults and ranges are the seed model's on Replicate, widened where the library allows more.
export const FIELDS = {
  task: {
    group: "request", kind: "enum", values: TASKS, default: inferTask,
    description: "text2img, img2img (from image), inpaint (image + mask) or mix (weighted texts and images); when absent: mix with mix items, inpaint with a mask, img2img with an image, else text2img",
    cli: { commands: { text2img: "generate", img2img: "img2img", inpaint: "inpaint", mix: "mix" } },
    cog: "task",
  },
  prompt: {
    group: "request", kind: "string", maxLength: TEXT_MAX_LENGTH, tasks: TEXT_TASKS, requiredFor: ["text2img"],
    description: "what to draw",
    cli: { argument: "<prompt>", position: 1 }, cog: "prompt", openai: { name: "prompt" }, a1111: ["prompt"],
  },
  negativePrompt: {
    group: "request", kind: "string", maxLength: TEXT_MAX_LENGTH, tasks: TEXT_TASKS,
    description: "what the image should not show",
    cli: { flag: "--negative-prompt <text>" }, cog: "negative_prompt", openai: { name: "negative_prompt", extra: true }, a1111: ["negative_prompt"],
  },
  image: {
    group: "request", kind: "image", tasks: ["img2img", "inpaint"], requiredFor: ["img2img", "inpaint"],
    description: "the starting image (img2img, inpaint), resized to width x height",
    cli: { argument: "<image>", position: 0 }, cog: "image", openai: { name: "image" }, a1111: ["init_images"],
  },
  mask: {
    group: "request", kind: "mask", tasks: ["inpaint"], requiredFor: ["inpaint"],
    description: "inpaint: white = repaint, black = keep; resized to width x height",
    cli: { flag: "--mask <file>" }, cog: "mask", form: "mask-canvas", openai: { name: "mask" }, a1111: ["mask"],
  },
  invertMask: {
    group: "request", kind: "boolean", default: false, tasks: ["inpaint"],
    description: "inpaint: black = repaint instead (the original implementation's masks)",
    cli: { flag: "--invert-mask" }, cog: "invert_mask", a1111: ["inpainting_mask_invert"],
  },
  strength: {
    group: "request", kind: "number", exclusiveMinimum: 0, maximum: 1, default: 0.3, step: 0.05, tasks: ["img2img"],
    description: "img2img: how much of the image is re-drawn, from 0 (nothing) to 1 (all)",
    cli: { flag: "--strength <x>" }, cog: "strength", openai: { name: "strength", extra: true }, a1111: ["denoising_strength"],
  },
  mix: {
    group: "request", kind: "mix", maxItems: 16, maxLength: TEXT_MAX_LENGTH, weights: { minimum: -10, maximum: 10 },
    tasks: ["mix"], requiredFor: ["mix"],
    description: "mix: texts and images blended in CLIP image-embedding space, each with a weight (equal weights when none)",
    cli: { flags: ["--text <text>", "--image <file>", "--weight <x>"] }, cog: ["mix_texts", "mix_images", "mix_weights"], form: "mix-items",
  },
  width: {
    group: "request", kind: "integer", minimum: 16, maximum: 4096, default: 512, step: 64, limit: "maxSize",
    description: "image width in pixels (generated at the next multiple of 64, then cropped)",
    cli: { flag: "--width <px>" }, cog: "width", openai: { name: "size" }, a1111: ["width"],
  },
  height: {
    group: "request", kind: "integer", minimum: 16, maximum: 4096, default: 512, step: 64, limit: "maxSize",
    description: "image height in pixels (generated at the next multiple of 64, then cropped)",
    cli: { flag: "--height <px>" }, cog: "height", openai: { name: "size" }, a1111: ["height"],
  },
  numOutputs: {
    group: "request", kind: "integer", minimum: 1, maximum: 16, default: 1, limit: "maxOutputs", tasks: TEXT_TASKS,
    description: "number of images",
    cli: { flag: "--num-outputs <n>" }, cog: "num_outputs", openai: { name: "n" }, a1111: ["batch_size", "n_iter"],
  },
  // "leading" spacing with steps_offset 1 puts N = 1000 steps' last timestep at 1000, past the schedule.
  steps: {
    group: "request", kind: "integer", minimum: 1, maximum: 999, default: 100, limit: "maxSteps",
    description: "decoder denoising steps",
    cli: { flag: "--steps <n>" }, cog: "num_inference_steps", openai: { name: "num_inference_steps", extra: true }, a1111: ["steps"],
  },
  priorSteps: {
    group: "request", kind: "integer", minimum: 2, maximum: 1000, default: 25, limit: "maxSteps",
    description: "prior denoising steps",
    cli: { flag: "--prior-steps <n>" }, cog: "num_steps_prior", openai: { name: "num_steps_prior", extra: true }, a1111: ["num_steps_prior"],
  },
  guidanceScale: {
    group: "request", kind: "number", minimum: 0, default: 4, step: 0.5,
    description: "decoder classifier-free guidance",
    cli: { flag: "--guidance-scale <x>" }, cog: "guidance_scale", openai: { name: "guidance_scale", extra: true }, a1111: ["cfg_scale"],
  },
  priorGuidanceScale: {
    group: "request", kind: "number", minimum: 0, default: 4, step: 0.5,
    description: "prior classifier-free guidance",
    cli: { flag: "--prior-guidance-scale <x>" }, cog: "prior_guidance_scale", openai: { name: "prior_guidance_scale", extra: true }, a1111: ["prior_guidance_scale"],
  },
  scheduler: {
    group: "request", kind: "enum", values: SCHEDULER_NAMES, default: "ddim",
    description: "decoder scheduler (ddim and ddpm: the reference's; dpmpp_2m: DPM-Solver++ 2M, good images in ~25 steps)",
    cli: { flag: "--scheduler <name>" }, cog: "scheduler", openai: { name: "scheduler", extra: true }, a1111: ["sampler_name", "sampler_index"],
  },
  // torch's CPU generator keeps the seed's low 32 bits: [0, 2**32) holds every distinct noise stream.
  seed: {
    group: "request", kind: "integer", minimum: 0, maximum: 2 ** 32 - 1, default: () => randomSeed(),
    description: "random seed: the noise of diffusers with torch.Generator(\"cpu\").manual_seed(seed), bit for bit; random when absent, and reported",
    cli: { flag: "--seed <n>", note: "random, printed" }, cog: "seed", openai: { name: "seed", extra: true }, a1111: ["seed"],
  },
  precision: {
    group: "request", kind: "enum", values: PRECISIONS, default: "fp32", serverDefault: true,
    description: "UNet precision: fp32 (the reference's numbers) or int8 (cpu only; faster, approximate; calibrated once per model on first use)",
    cli: { flag: "--precision <p>" }, cog: "precision", openai: { name: "precision", extra: true },
  },
  outputFormat: {
    group: "output", kind: "enum", values: IMAGE_FORMATS, default: "png",
    description: "image file format",
    cli: { flag: "--format <format>", note: "from --output's extension, else png" }, cog: "output_format", openai: { name: "output_format" },
  },
  outputQuality: {
    group: "output", kind: "integer", minimum: 1, maximum: 100, default: 80,
    description: "JPEG / WebP quality (PNG is lossless)",
    cli: { flag: "--quality <q>" }, cog: "output_quality", openai: { name: "output_compression" },
  },
} as const satisfies Record<string, FieldSpec>;

type Fields = typeof FIELDS;
export type FieldKey = keyof Fields;
export const FIELD_KEYS = Object.keys(FIELDS) as FieldKey[];

type KeysWhere<Cond> = { [K in FieldKey]: Fields[K] extends Cond ? K : never }[FieldKey];
export type RequestKey = KeysWhere<{ group: "request" }>;
export type OutputKey = KeysWhere<{ group: "output" }>;
type Defaulted = KeysWhere<{ default: unknown }>;

interface KindValues {
  integer: number;
  number: number;
  string: string;
  boolean: boolean;
  image: RgbImage;
  mask: GrayImage;
  mix: MixItem[];
}
type ValueOf<F> = F extends { kind: "enum"; values: readonly (infer V)[] } ? V
  : F extends { kind: infer K extends keyof KindValues } ? KindValues[K] : never;

type Optional<K extends FieldKey> = { [P in K]?: ValueOf<Fields[P]> };
type Required<K extends FieldKey> = { [P in K]: ValueOf<Fields[P]> };

/** A library request: every field optional (see FIELDS for each one's meaning, range and default). */
export type GenerateRequest = Optional<RequestKey>;
/** A checked request: task and seed decided, every default filled in. */
export type ResolvedRequest = Required<RequestKey & Defaulted> & Optional<Exclude<RequestKey, Defaulted>>;
/** How output images are encoded. */
export type OutputRequest = Optional<OutputKey>;
export type ResolvedOutput = Required<OutputKey>;

export interface Range {
  minimum?: number;
  exclusiveMinimum?: number;
  maximum?: number;
  /** The server setting that lowered the maximum below the table's. */
  limitedBy?: LimitName;
}

type ServerDefaultKey = KeysWhere<{ serverDefault: true }> & RequestKey;
/** The fields whose default a server may set, in table order. */
export const SERVER_DEFAULT_KEYS = FIELD_KEYS.filter((k) => (FIELDS[k] as FieldSpec).serverDefault) as ServerDefaultKey[];
/** A server's defaults for the fields that allow one (serve --precision). */
export type FieldDefaults = Optional<ServerDefaultKey>;

/** A field's default: the server's where it sets one, else the table's (a function: drawn from the request). */
export function fieldDefault(key: FieldKey, defaults: FieldDefaults = {}): unknown {
  return (defaults as Partial<Record<FieldKey, unknown>>)[key] ?? (FIELDS[key] as FieldSpec).default;
}

/** A field's range: the table's, its maximum lowered by the server setting that governs it, if given. */
export function fieldRange(key: FieldKey, limits: FieldLimits = {}): Range {
  const f: FieldSpec = FIELDS[key];
  const r: Range = { minimum: f.minimum, exclusiveMinimum: f.exclusiveMinimum, maximum: f.maximum };
  const cap = f.limit && limits[f.limit];
  if (cap !== undefined && (r.maximum === undefined || cap < r.maximum)) Object.assign(r, { maximum: cap, limitedBy: f.limit });
  return r;
}

/** The values a limit may take: from the largest minimum to the largest maximum of the fields it governs. */
export function limitRange(name: LimitName): { minimum: number; maximum: number } {
  const governed = FIELD_KEYS.map((k): FieldSpec => FIELDS[k]).filter((f) => f.limit === name);
  return { minimum: Math.max(...governed.map((f) => f.minimum!)), maximum: Math.max(...governed.map((f) => f.maximum!)) };
}

/** A range in words: "from 16 to 4096", "in (0, 1]", ">= 0" ("" when unbounded). */
export function rangeText(r: Range): string {
  const lo = r.exclusiveMinimum ?? r.minimum;
  if (lo !== undefined && r.maximum !== undefined) {
    return r.exclusiveMinimum !== undefined ? `in (${lo}, ${r.maximum}]` : `from ${lo} to ${r.maximum}`;
  }
  if (lo !== undefined) return r.exclusiveMinimum !== undefined ? `> ${lo}` : `>= ${lo}`;
  return r.maximum !== undefined ? `<= ${r.maximum}` : "";
}

/** A field's names in an API, the main one first. */
export function apiNames(api: Api, key: FieldKey): readonly string[] {
  const f: FieldSpec = FIELDS[key];
  if (api === "cog") return typeof f.cog === "string" ? [f.cog] : f.cog;
  if (api === "openai") return f.openai ? [f.openai.name] : [];
  return f.a1111 ?? [];
}

function nameMap(api: Api): Readonly<Record<string, readonly FieldKey[]>> {
  const map: Record<string, FieldKey[]> = {};
  for (const k of FIELD_KEYS) for (const n of apiNames(api, k)) (map[n] ??= []).push(k);
  return Object.freeze(map);
}

/** Cog input name -> its fields (mix_texts, mix_images and mix_weights -> ["mix"]). */
export const COG_NAMES = nameMap("cog");
/** OpenAI images API name, or extra body field -> its fields (size -> ["width", "height"]). */
export const OPENAI_NAMES = nameMap("openai");
/** AUTOMATIC1111 name -> its fields (batch_size and n_iter -> ["numOutputs"]). */
export const A1111_NAMES = nameMap("a1111");
