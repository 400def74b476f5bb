#!/usr/bin/env node
// node dist/bench/quality.js <model-set> [--size <px>] [--steps <n>] [--no-cache]
//
// The int8 path against fp32 on one decoder job (MultilingualCLIP, the UNet loop, MoVQ) at the pipeline's default
// settings but `steps` decoder steps, with synthetic conditioning (random token ids and image embeddings: the
// bench's sets have no tokenizers, and the prior is float in both paths). The int8 networks are calibrated the same
// way on other seeds (QUALITY_RECIPE). Prints one line `QUALITY_RESULT <json>`:
// - stepErr: per step, the relative error of the int8 UNet's noise prediction on the fp32 job's own input;
// - latentsErr: relative error of the int8 job's final latents against the fp32 job's;
// - psnr: PSNR (dB) of the int8 job's image against the fp32 job's (the MoVQ decoder is float in both).
import { basename, join } from "node:path";
import { Components } from "../src/pipelines/components.js";
import { DecoderPipeline, type DecoderArgs } from "../src/pipelines/decoder.js";
import { toImages } from "../src/pipelines/kandinsky.js";
import { FIELDS } from "../src/request/fields.js";
import { MClipSpec } from "../src/models/mclip.js";
import { UNetSpec, UNET_OUTPUT } from "../src/models/unet/unet.js";
import { readConfig } from "../src/weights/config.js";
import { createDecoderScheduler } from "../src/schedulers/index.js";
import { SeededNoise } from "../src/noise/noise-source.js";
import { cacheRoot } from "../src/runtime/session-cache.js";
import type { HostArray } from "../src/runtime/session.js";
import type { Precision } from "../src/runtime/precision.js";
import type { HostTensor } from "../src/runtime/host-tensor.js";
import { psnr, relativeError } from "../src/runtime/compare.js";
import { fixture } from "../test/fixtures.js";
import { TOKENS } from "./items.js";

export const QUALITY_RECIPE = "bench-decoder-v1";
/** The tiny set the quick bench compares on. */
export const TINY_SET = fixture("tiny-a");
/** Calibration: decoder jobs on these seeds, with few steps spread over the schedule. */
const CALIBRATION_SEEDS = [1, 2, 3];
const CALIBRATION_STEPS = 6;

export interface QualityResult {
  /** The set's folder name. */
  set: string;
  size: number;
  steps: number;
  stepErr: number[];
  latentsErr: number;
  psnr: number;
  seconds: number;
}

/** A seeded decoder job with random conditioning: uniform token ids past the special ones, Gaussian image embeddings. */
export function job(repo: string, seed: number, size: number, steps: number, precision: Precision): DecoderArgs {
  const vocab = MClipSpec.parseConfig(readConfig(join(repo, "text_encoder"))).encoder.vocab;
  const dim = UNetSpec.parseConfig(readConfig(join(repo, "unet"))).crossAttentionDim;
  const noise = new SeededNoise(seed);
  const ids = (k: number) => [Array.from({ length: TOKENS }, (_, i) => 4 + ((seed * 7919 + k * 104729 + i * 31337) % (vocab - 4)))];
  const rows = (k: number) => ({ ids: ids(k), mask: [new Array<number>(TOKENS).fill(1)] });
  const embeds = (k: number): HostTensor => ({ data: Float32Array.from(new SeededNoise(seed * 1000 + k).randn([1, dim], "bench")), shape: [1, dim] });
  return {
    cond: rows(0), uncond: rows(1), imageEmbeds: embeds(0), negativeImageEmbeds: embeds(1), numImagesPerPrompt: 1,
    height: size, width: size, steps, guidanceScale: FIELDS.guidanceScale.default, scheduler: createDecoderScheduler(FIELDS.scheduler.default, repo),
    noise, mode: { kind: "text2img" }, precision,
  };
}

const copyFeeds = (f: Record<string, HostArray>) =>
  Object.fromEntries(Object.entries(f).map(([k, v]) => [k, { data: v.data.slice(), dims: [...v.dims] }]));

export async function quality(models: string, size: number, steps: number, cache: string | false): Promise<QualityResult> {
  const t0 = performance.now();
  const repo = join(models, "decoder");
  const components = new Components({ provider: "cpu", cache }, QUALITY_RECIPE);
  const decoder = new DecoderPipeline(repo, components);
  if (!(await components.calibrated(join(repo, "unet"), UNetSpec, undefined))) {
    await components.calibrate(async () => {
      for (const seed of CALIBRATION_SEEDS) await decoder.run(job(repo, seed, size, CALIBRATION_STEPS, "fp32"));
    });
  }
  const calls: { feeds: Record<string, HostArray>; out: Float32Array }[] = [];
  components.observe((component, precision) => component.endsWith("unet") && precision === "fp32"
    ? (out, feeds) => calls.push({ feeds: copyFeeds(feeds), out: (out[UNET_OUTPUT].data as Float32Array).slice() })
    : undefined);
  const ref = await decoder.run(job(repo, 0, size, steps, "fp32"));
  const got = await decoder.run(job(repo, 0, size, steps, "int8"));
  const stepErr = await components.use(join(repo, "unet"), UNetSpec, undefined, async (s) => {
    const errs: number[] = [];
    for (const c of calls) errs.push(relativeError((await s.run(c.feeds))[UNET_OUTPUT].data as Float32Array, c.out));
    return errs;
  }, "int8");
  const image = (t: HostTensor) => toImages(t)[0].data;
  return {
    set: basename(models), size, steps, stepErr,
    latentsErr: relativeError(got.finalLatents.data, ref.finalLatents.data),
    psnr: psnr(image(got.imageRaw), image(ref.imageRaw)),
    seconds: (performance.now() - t0) / 1000,
  };
}

function main(argv: string[]): Promise<void> {
  const args = [...argv];
  const value = (name: string, dflt: number) => {
    const i = args.indexOf(name);
    return i < 0 ? dflt : Number(args.splice(i, 2)[1]);
  };
  const size = value("--size", FIELDS.width.default);
  const steps = value("--steps", 25);
  const noCache = args.indexOf("--no-cache");
  if (noCache >= 0) args.splice(noCache, 1);
  if (args.length !== 1 || !(size > 0) || !(steps > 0)) throw new Error("usage: quality <model-set> [--size <px>] [--steps <n>] [--no-cache]");
  return quality(args[0], size, steps, noCache >= 0 ? false : cacheRoot()).then((r) => console.log(`QUALITY_RESULT ${JSON.stringify(r)}`));
}

if (process.argv[1]?.endsWith("quality.js")) {
  main(process.argv.slice(2)).catch((e: Error) => {
    console.error(`quality: ${e.stack ?? e.message}`);
    process.exitCode = 1;
  });
}
