// The prediction API's schemas. INPUT_SCHEMA is the one definition of a prediction's input: fastify (ajv)
// validates requests with it and /openapi.json publishes it as the Input component.
import { DEFAULTS } from "../pipelines/kandinsky.js";
import { SCHEDULER_NAMES } from "../schedulers/index.js";

export const TASKS = ["text2img", "img2img", "inpaint", "mix"] as const;
export const OUTPUT_FORMATS = ["png", "jpeg", "webp"] as const;
export const WEBHOOK_EVENTS = ["start", "output", "logs", "completed"] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** Prediction ids name files under the data folder, so they are kept to a safe alphabet and length. */
export const ID_MAX_LENGTH = 128;
const ID_PATTERN = `^[A-Za-z0-9_-]{1,${ID_MAX_LENGTH}}$`;

const imageUrl = (description: string) =>
  ({ type: "string", format: "uri", pattern: "^(data:|https?://)", description });

// Property order is the order clients (and Replicate's UI, through x-order) show them in.
const properties = {
  task: { type: "string", enum: TASKS, default: "text2img", description: "text2img, img2img (from `image`), inpaint (`image` + `mask`) or mix (weighted texts and images)" },
  prompt: { type: "string", maxLength: 2000, description: "What to draw (required for text2img; unused by mix)" },
  negative_prompt: { type: "string", maxLength: 2000, description: "What not to draw" },
  image: imageUrl("img2img / inpaint: the starting image, as a data URL or an http(s) URL"),
  mask: imageUrl("inpaint: white = repaint, black = keep; a data URL or an http(s) URL"),
  strength: { type: "number", exclusiveMinimum: 0, maximum: 1, default: DEFAULTS.strength, description: "img2img: how much of the image is re-noised" },
  mix_texts: { type: "array", maxItems: 8, items: { type: "string", maxLength: 2000 }, description: "mix: texts to blend" },
  mix_images: { type: "array", maxItems: 8, items: imageUrl("an image to blend"), description: "mix: images to blend (data URLs or http(s) URLs)" },
  mix_weights: { type: "array", maxItems: 16, items: { type: "number", minimum: -10, maximum: 10 }, description: "mix: one weight per text, then one per image; equal weights when absent" },
  width: { type: "integer", minimum: 128, maximum: 1024, default: DEFAULTS.width, description: "Output width in pixels" },
  height: { type: "integer", minimum: 128, maximum: 1024, default: DEFAULTS.height, description: "Output height in pixels" },
  num_outputs: { type: "integer", minimum: 1, maximum: 4, default: DEFAULTS.numOutputs, description: "Number of images (1 for mix)" },
  num_steps_prior: { type: "integer", minimum: 2, maximum: 500, default: DEFAULTS.priorSteps, description: "Denoising steps of the prior" },
  num_inference_steps: { type: "integer", minimum: 1, maximum: 500, default: DEFAULTS.steps, description: "Denoising steps of the decoder" },
  guidance_scale: { type: "number", minimum: 0, maximum: 20, default: DEFAULTS.guidanceScale, description: "Classifier-free guidance of the decoder" },
  prior_guidance_scale: { type: "number", minimum: 0, maximum: 20, default: DEFAULTS.priorGuidanceScale, description: "Classifier-free guidance of the prior" },
  scheduler: { type: "string", enum: SCHEDULER_NAMES, default: DEFAULTS.scheduler, description: "Decoder scheduler" },
  seed: { type: "integer", minimum: 0, maximum: 2 ** 32 - 1, description: "Random seed; random when absent (the one used is in the logs and in metrics.seed)" },
  output_format: { type: "string", enum: OUTPUT_FORMATS, default: "png", description: "Image file format" },
  output_quality: { type: "integer", minimum: 1, maximum: 100, default: 80, description: "JPEG / WebP quality (PNG is lossless)" },
};

export const INPUT_SCHEMA = {
  title: "Input",
  type: "object",
  additionalProperties: false,
  properties: Object.fromEntries(Object.entries(properties).map(([k, v], i) => [k, { title: k, ...v, "x-order": i }])),
};

/** A validated input: what INPUT_SCHEMA admits, with its defaults filled in. */
export interface Input {
  task: (typeof TASKS)[number];
  prompt?: string;
  negative_prompt?: string;
  image?: string;
  mask?: string;
  strength: number;
  mix_texts?: string[];
  mix_images?: string[];
  mix_weights?: number[];
  width: number;
  height: number;
  num_outputs: number;
  num_steps_prior: number;
  num_inference_steps: number;
  guidance_scale: number;
  prior_guidance_scale: number;
  scheduler: (typeof SCHEDULER_NAMES)[number];
  seed?: number;
  output_format: (typeof OUTPUT_FORMATS)[number];
  output_quality: number;
}

const httpUrl = { type: "string", format: "uri", pattern: "^https?://" };

/** The body of POST /predictions and PUT /predictions/{id}. Unknown top-level fields (version, context) are ignored, as Cog does. */
export const PREDICTION_REQUEST_SCHEMA = {
  title: "PredictionRequest",
  type: "object",
  required: ["input"],
  properties: {
    id: { type: "string", pattern: ID_PATTERN },
    input: INPUT_SCHEMA,
    webhook: { ...httpUrl, maxLength: 65536 },
    webhook_events_filter: { type: "array", items: { type: "string", enum: WEBHOOK_EVENTS }, default: [...WEBHOOK_EVENTS] },
    output_file_prefix: httpUrl,
  },
};

export interface PredictionRequest {
  id?: string;
  input: Input;
  webhook?: string;
  webhook_events_filter: WebhookEvent[];
  output_file_prefix?: string;
}

export const ID_PARAMS_SCHEMA = {
  type: "object",
  properties: { id: { type: "string", pattern: ID_PATTERN } },
};
