// Parity cases of the pipelines: pipeline.* (token ids in, recorded noise replayed) and e2e.* (text in; seeded
// cases draw their noise from our torch generator, the replay case from the recording).
import { join } from "node:path";
import type { Case, CaseSet, HostTensor } from "./cases.js";
import { compare, type CaseResult, type Comparison } from "./report.js";
import type { ParityOptions } from "./options.js";
import { ReplayNoise } from "../noise/noise-source.js";
import { Components } from "../pipelines/components.js";
import { PriorPipeline, interpolate, type PriorResult } from "../pipelines/prior.js";
import { DecoderPipeline, type DecoderMode, type DecoderResult } from "../pipelines/decoder.js";
import { Kandinsky, type GenerateRequest } from "../pipelines/kandinsky.js";
import type { TokenRows } from "../pipelines/feeds.js";
import { loadScheduler } from "../schedulers/index.js";
import { ClipImageProcessor } from "../image/clip-processor.js";
import { prepareImageTensor, decoderOutputToImageNp, imageNpToUint8 } from "../image/convert.js";
import { rgbImage, grayImage } from "../image/rgb.js";

function components(o: ParityOptions): Components {
  return new Components({ provider: o.session.provider ?? "cpu", build: o.build, threads: o.session.threads });
}

function rows(set: CaseSet, c: Case, prefix: string): TokenRows {
  const ids = set.tensor(c.inputs[`${prefix}input_ids`]);
  const mask = set.tensor(c.inputs[`${prefix}attention_mask`]);
  const [n, len] = ids.shape;
  const split = (t: HostTensor) => Array.from({ length: n }, (_, i) => Array.from(t.data.subarray(i * len, (i + 1) * len)));
  return { ids: split(ids), mask: split(mask) };
}

function pickRows(r: TokenRows, idx: number[]): TokenRows {
  return { ids: idx.map((i) => r.ids[i]), mask: idx.map((i) => r.mask[i]) };
}

function rgbInput(set: CaseSet, c: Case, name = "image_uint8_hwc") {
  const t = set.tensor(c.inputs[name]);
  return rgbImage(t.shape[1], t.shape[0], Uint8Array.from(t.data));
}

/** Compares what the case stores: embeddings, latents, raw/np images (float atol) and uint8 images (±1). */
function compareOutputs(set: CaseSet, c: Case, prior: PriorResult | null, dec: DecoderResult | null): CaseResult {
  const atol = c.suggested_tolerance?.atol ?? 1e-5;
  const actual: Record<string, { data: ArrayLike<number>; shape: readonly number[] }> = {};
  if (prior) {
    actual.image_embeds = prior.imageEmbeds;
    actual.negative_image_embeds = prior.negativeImageEmbeds;
  }
  if (dec) {
    const np = decoderOutputToImageNp(dec.imageRaw);
    actual.final_latents = dec.finalLatents;
    actual.image_raw = dec.imageRaw;
    actual.image_np = np;
    actual.image_uint8 = imageNpToUint8(np);
  }
  const items: Comparison[] = Object.entries(c.outputs).map(([name, ref]) => {
    if (!actual[name]) throw new Error(`no result for output "${name}"`);
    const isUint8 = ref.semantic_dtype === "uint8";
    return { name, expected: set.tensor(ref), actual: actual[name], atol: isUint8 ? 1 : atol };
  });
  return compare(items, atol);
}

function priorCase(set: CaseSet, c: Case, o: ParityOptions) {
  const p = c.params;
  const prior = new PriorPipeline(join(set.dir, "prior"), components(o));
  return prior.run({
    cond: rows(set, c, "cond_"), uncond: rows(set, c, "uncond_"), hasNegative: p.negative_prompt != null,
    numImagesPerPrompt: p.num_images_per_prompt, steps: p.num_inference_steps, guidanceScale: p.guidance_scale,
    noise: new ReplayNoise(set.noise(c)),
  });
}

async function interpolateCase(set: CaseSet, c: Case, o: ParityOptions) {
  const p = c.params;
  const all = rows(set, c, "");
  const processor = ClipImageProcessor.fromFile(join(set.dir, "prior", "image_processor", "preprocessor_config.json"));
  const empty = pickRows(all, [2]);
  return interpolate(new PriorPipeline(join(set.dir, "prior"), components(o)), {
    items: [
      { text: { cond: pickRows(all, [0]), uncond: empty } },
      { text: { cond: pickRows(all, [1]), uncond: empty } },
      { pixelValues: processor.preprocess([rgbInput(set, c)]) },
    ],
    weights: p.weights, empty, steps: p.num_inference_steps, guidanceScale: p.guidance_scale, noise: new ReplayNoise(set.noise(c)),
  });
}

function decoderCase(set: CaseSet, c: Case, o: ParityOptions) {
  const p = c.params;
  const repo = join(set.dir, c.target);
  const noise = new ReplayNoise(set.noise(c));
  let mode: DecoderMode = { kind: "text2img", latents: c.inputs.latents ? set.tensor(c.inputs.latents) : undefined };
  if (c.id.startsWith("pipeline.img2img.") || c.id.startsWith("pipeline.inpaint.")) {
    const image = prepareImageTensor(rgbInput(set, c), p.width, p.height);
    mode = c.id.startsWith("pipeline.img2img.")
      ? { kind: "img2img", image, strength: p.strength }
      : { kind: "inpaint", image, mask: set.tensor(c.inputs.mask) };
  }
  return new DecoderPipeline(repo, components(o)).run({
    cond: rows(set, c, "cond_"), uncond: rows(set, c, "uncond_"),
    imageEmbeds: set.tensor(c.inputs.image_embeds), negativeImageEmbeds: set.tensor(c.inputs.negative_image_embeds),
    numImagesPerPrompt: p.num_images_per_prompt, height: p.height, width: p.width, steps: p.num_inference_steps,
    guidanceScale: p.guidance_scale, scheduler: loadScheduler(join(repo, p.scheduler_subfolder)), noise, mode,
  });
}

/** e2e.text2img.replay: prior(prompt, negative) then KandinskyPipeline(prompt, negative) — not the combined call. */
async function replayCase(set: CaseSet, c: Case, o: ParityOptions) {
  const [priorCall, decCall] = c.params.calls;
  const k = new Kandinsky({ prior: join(set.dir, "prior"), decoder: join(set.dir, "decoder") }, { provider: o.session.provider ?? "cpu", build: o.build });
  const noise = new ReplayNoise(set.noise(c));
  const prior = await k.priorEmbeds(priorCall.prompt, priorCall.negative_prompt ?? undefined, priorCall.num_images_per_prompt,
    priorCall.num_inference_steps, priorCall.guidance_scale, noise);
  const repo = join(set.dir, "decoder");
  const decoder = new DecoderPipeline(repo, k.components);
  const dec = await decoder.run({
    cond: k.decoderTokens(repo, [decCall.prompt]), uncond: k.decoderTokens(repo, [decCall.negative_prompt ?? ""]),
    imageEmbeds: prior.imageEmbeds, negativeImageEmbeds: prior.negativeImageEmbeds,
    numImagesPerPrompt: decCall.num_images_per_prompt, height: decCall.height, width: decCall.width,
    steps: decCall.num_inference_steps, guidanceScale: decCall.guidance_scale,
    scheduler: loadScheduler(join(repo, "scheduler")), noise, mode: { kind: "text2img" },
  });
  return { prior, dec };
}

/** The seeded e2e cases: one library call with a seed, through the same code users call. */
async function seededCase(set: CaseSet, c: Case, o: ParityOptions) {
  const calls = c.params.calls;
  const last = calls[calls.length - 1];
  const inpaint = c.id.startsWith("e2e.inpaint.");
  const k = new Kandinsky(
    { prior: join(set.dir, "prior"), decoder: join(set.dir, "decoder"), inpaint: join(set.dir, "inpaint") },
    { provider: o.session.provider ?? "cpu", build: o.build },
  );
  const req: GenerateRequest = {
    seed: c.params.seed, width: last.width, height: last.height, steps: last.num_inference_steps,
    guidanceScale: last.guidance_scale, numOutputs: last.num_images_per_prompt,
    scheduler: String(last.scheduler).startsWith("DDPM") ? "ddpm" : "ddim",
  };
  if (c.id.startsWith("e2e.mix.")) {
    const mix = calls[0];
    Object.assign(req, {
      task: "mix", priorSteps: mix.num_inference_steps, priorGuidanceScale: mix.guidance_scale,
      // Image entries are recorded as "<...>" placeholders for the case's input image.
      mix: mix.images_and_prompts.map((x: string, i: number) =>
        x.startsWith("<") ? { image: rgbInput(set, c), weight: mix.weights[i] } : { text: x, weight: mix.weights[i] }),
    });
  } else {
    Object.assign(req, {
      prompt: last.prompt, negativePrompt: last.negative_prompt ?? undefined, priorSteps: last.prior_num_inference_steps,
      priorGuidanceScale: last.prior_guidance_scale,
    });
    if (c.inputs.image_uint8_hwc) Object.assign(req, { task: inpaint ? "inpaint" : "img2img", image: rgbInput(set, c), strength: last.strength });
    if (inpaint) {
      const m = set.tensor(c.inputs.mask_uint8_hw);
      req.mask = grayImage(m.shape[1], m.shape[0], Uint8Array.from(m.data));
    }
  }
  const r = await k.run(req);
  return { prior: r.prior, dec: r.decoded };
}

export async function runPipelineCase(set: CaseSet, c: Case, o: ParityOptions): Promise<CaseResult> {
  if (c.id === "pipeline.prior.interpolate") return compareOutputs(set, c, await interpolateCase(set, c, o), null);
  if (c.id.startsWith("pipeline.prior.")) return compareOutputs(set, c, await priorCase(set, c, o), null);
  if (c.id.startsWith("pipeline.")) return compareOutputs(set, c, null, await decoderCase(set, c, o));
  const { prior, dec } = c.id === "e2e.text2img.replay" ? await replayCase(set, c, o) : await seededCase(set, c, o);
  return compareOutputs(set, c, prior, dec);
}
