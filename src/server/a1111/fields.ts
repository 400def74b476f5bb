// AUTOMATIC1111's txt2img / img2img fields -> the Cog input fields they set, by the request-field table's A1111
// names; our schedulers under its sampler names; and its answer's `info`, the JSON string its clients read the
// seeds and infotexts from.
import { A1111_NAMES, type FieldKey } from "../../request/fields.js";
import { SCHEDULER_NAMES, type SchedulerName } from "../../schedulers/index.js";
import { cogName } from "../api-input.js";
import { InputError } from "../errors.js";
import { MODEL_ID } from "../predictions.js";
import type { Input } from "../schema.js";

/** Our schedulers under A1111's sampler names (A1111's own "schedulers" are noise schedules, which ours fix). */
const SAMPLER_NAMES: Partial<Record<SchedulerName, { name: string; aliases: string[] }>> = {
  ddim: { name: "DDIM", aliases: ["ddim"] },
  ddpm: { name: "DDPM", aliases: ["ddpm"] },
  dpmpp_2m: { name: "DPM++ 2M", aliases: ["k_dpmpp_2m", "dpmpp_2m"] },
};
/** GET /sdapi/v1/samplers. */
export const SAMPLERS = SCHEDULER_NAMES.map((scheduler) => ({
  scheduler,
  name: SAMPLER_NAMES[scheduler]?.name ?? scheduler,
  aliases: [...new Set([...(SAMPLER_NAMES[scheduler]?.aliases ?? []), scheduler])],
  options: {},
}));
const samplerNamed = (name: string) => SAMPLERS.find((s) => [s.name, ...s.aliases].some((n) => n.toLowerCase() === name.toLowerCase()));
export const samplerName = (scheduler: string) => SAMPLERS.find((s) => s.scheduler === scheduler)?.name ?? scheduler;

export interface A1111Request {
  /** The Cog fields it sets (not yet checked). */
  cog: Record<string, unknown>;
  /** n_iter: batches run one after another, each a prediction of batch_size images. */
  iterations: number;
}

/** A base64 image as A1111 takes it (bare, or a data URL, or an http(s) URL) -> a URL the Cog input takes. */
const imageUrl = (s: string) => (/^(data:|https?:\/\/)/.test(s) ? s : `data:image/png;base64,${s}`);

/**
 * A txt2img or img2img body (already typed by the route's schema) -> the Cog fields it sets. Fields A1111 has
 * and this model does not use (hires fix, face restoration, scripts, override_settings, its noise schedule...)
 * are ignored, as A1111 ignores unknown ones; nulls count as absent.
 */
export function fromA1111(body: Record<string, unknown>, img2img: boolean): A1111Request {
  const cog: Record<string, unknown> = {};
  const set = (key: FieldKey, v: unknown) => (cog[cogName(key)] = v);
  let iterations = 1;
  for (const [name, v] of Object.entries(body)) {
    const key = A1111_NAMES[name]?.[0];
    if (v === null || v === undefined || !key) continue;
    // A1111's defaults that mean "none": an empty negative prompt, seed -1.
    if ((key === "negativePrompt" && v === "") || (key === "seed" && v === -1)) continue;
    if (name === "n_iter") iterations = v as number;
    else if (key === "scheduler") {
      if (name === "sampler_index" && body.sampler_name) continue; // sampler_name wins, as in A1111
      const found = samplerNamed(v as string);
      if (!found) throw new InputError(["body", name], `is not a sampler of this server (${SAMPLERS.map((s) => s.name).join(", ")})`);
      set(key, found.scheduler);
    } else if (key === "image" || key === "mask" || key === "invertMask" || key === "strength") {
      if (!img2img) continue; // txt2img's denoising_strength is the hires fix's, which this model does not have
      if (key === "image") {
        const images = v as string[];
        if (images.length) set(key, imageUrl(images[0]));
      } else set(key, key === "mask" ? imageUrl(v as string) : key === "invertMask" ? v === 1 || v === true : v);
    } else set(key, v);
  }
  if (!(Number.isInteger(iterations) && iterations >= 1)) throw new InputError(["body", "n_iter"], "must be an integer >= 1");
  if (img2img) {
    if (cog[cogName("image")] === undefined) throw new InputError(["body", "init_images"], "is required: one base64 image");
    const inpaint = cog[cogName("mask")] !== undefined;
    if (inpaint) delete cog[cogName("strength")];
    else delete cog[cogName("invertMask")];
    set("task", inpaint ? "inpaint" : "img2img");
  } else {
    set("task", "text2img");
  }
  return { cog, iterations };
}

/** The values a checked input was run with, by the table's names (the sampler by its A1111 name). */
function used(input: Input) {
  const v = (key: FieldKey) => input[cogName(key)];
  return {
    task: v("task") as string, prompt: (v("prompt") ?? "") as string, negativePrompt: (v("negativePrompt") ?? "") as string,
    steps: v("steps"), sampler: samplerName(v("scheduler") as string), guidanceScale: v("guidanceScale"), width: v("width"),
    height: v("height"), numOutputs: v("numOutputs"), priorSteps: v("priorSteps"), priorGuidanceScale: v("priorGuidanceScale"),
    strength: v("task") === "img2img" ? v("strength") : null,
  };
}

/** The body echoed back as `parameters`: what was sent, with the values used for the fields it left out. */
export function parameters(body: Record<string, unknown>, input: Input, iterations: number): Record<string, unknown> {
  const u = used(input);
  const defaults = {
    prompt: u.prompt, negative_prompt: u.negativePrompt, seed: -1, steps: u.steps, cfg_scale: u.guidanceScale, width: u.width,
    height: u.height, batch_size: u.numOutputs, n_iter: iterations, sampler_name: u.sampler, num_steps_prior: u.priorSteps,
    prior_guidance_scale: u.priorGuidanceScale, ...(u.strength === null ? {} : { denoising_strength: u.strength }),
  };
  const echo: Record<string, unknown> = { ...defaults, ...Object.fromEntries(Object.entries(body).filter(([, v]) => v !== null && v !== undefined)) };
  // As A1111: the images are not sent back unless include_init_images.
  if ("init_images" in echo && body.include_init_images !== true) Object.assign(echo, { init_images: null, mask: null });
  return echo;
}

/** A1111's infotext: the prompt, the negative prompt, then "Key: value" pairs. */
function infotext(u: ReturnType<typeof used>, seed: number): string {
  const pairs: [string, unknown][] = [
    ["Steps", u.steps], ["Sampler", u.sampler], ["CFG scale", u.guidanceScale], ["Seed", seed], ["Size", `${u.width}x${u.height}`],
    ["Model", MODEL_ID], ["Prior steps", u.priorSteps], ["Prior CFG scale", u.priorGuidanceScale],
    ...(u.strength === null ? [] : [["Denoising strength", u.strength] as [string, unknown]]),
  ];
  const negative = u.negativePrompt ? `\nNegative prompt: ${u.negativePrompt}` : "";
  return `${u.prompt}${negative}\n${pairs.map(([k, v]) => `${k}: ${v}`).join(", ")}`;
}

/** `info`: the JSON of A1111's Processed.js() for images made with `seeds` (one per image). */
export function info(input: Input, seeds: number[], jobTimestamp: string): string {
  const u = used(input);
  const n = seeds.length;
  return JSON.stringify({
    prompt: u.prompt, all_prompts: new Array(n).fill(u.prompt), negative_prompt: u.negativePrompt, all_negative_prompts: new Array(n).fill(u.negativePrompt),
    seed: seeds[0] ?? -1, all_seeds: seeds, subseed: -1, all_subseeds: new Array(n).fill(-1), subseed_strength: 0,
    width: u.width, height: u.height, sampler_name: u.sampler, cfg_scale: u.guidanceScale, steps: u.steps, batch_size: u.numOutputs,
    restore_faces: false, face_restoration_model: null, sd_model_name: MODEL_ID, sd_model_hash: null, sd_vae_name: null, sd_vae_hash: null,
    seed_resize_from_w: -1, seed_resize_from_h: -1, denoising_strength: u.strength,
    extra_generation_params: { "Prior steps": u.priorSteps, "Prior CFG scale": u.priorGuidanceScale },
    index_of_first_image: 0, infotexts: seeds.map((s) => infotext(u, s)), styles: [], job_timestamp: jobTimestamp, clip_skip: 1,
    is_using_inpainting_conditioning: u.task === "inpaint",
  });
}
