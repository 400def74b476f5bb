// Runners for the reference cases of kind "scheduler" (timestep lists, step chains) and "function"
// (img2img.add_noise, inpaint.prepare_mask, get_new_h_w).
import { join } from "node:path";
import { ReplayNoise } from "../noise/noise-source.js";
import { loadScheduler } from "../schedulers/index.js";
import { getNewHW, img2imgAddNoise, prepareMask } from "../pipelines/latents.js";
import type { Case, CaseSet, HostTensor } from "./cases.js";
import { compare, type CaseResult, type Comparison } from "./report.js";

const vector = (values: readonly number[]): HostTensor => ({ data: Float32Array.from(values), shape: [values.length] });

/** An exact comparison of integer lists or scalars. */
const exact = (name: string, expected: readonly number[], actual: readonly number[]): Comparison => ({
  name,
  expected: vector(expected),
  actual: vector(actual),
  atol: 0,
});

const fail = (detail: string): CaseResult => ({ status: "FAIL", detail });

/** `scheduler.<name>.timesteps` (exact lists for every N, and init_noise_sigma) or `scheduler.<name>.steps`. */
export function runSchedulerCase(set: CaseSet, c: Case): CaseResult {
  const scheduler = loadScheduler(join(set.dir, c.target));
  if (c.id.endsWith(".timesteps")) {
    const byN: Record<string, number[]> = c.params.timesteps_by_num_inference_steps;
    const items = Object.entries(byN).map(([n, expected]) => {
      return exact(`timesteps[N=${n}]`, expected, scheduler.chain(Number(n)).timesteps);
    });
    items.push(exact("init_noise_sigma", [c.params.init_noise_sigma], [scheduler.initNoiseSigma]));
    return compare(items, 0);
  }
  if (c.id.endsWith(".steps")) {
    const atol = c.suggested_tolerance?.atol ?? 1e-5;
    const timesteps: number[] = c.params.timesteps;
    const chain = scheduler.chain(c.params.num_inference_steps);
    if (chain.timesteps.join() !== timesteps.join()) {
      return fail(`timesteps [${chain.timesteps}], the case steps through [${timesteps}]`);
    }
    const noise = new ReplayNoise(set.noise(c));
    const items: Comparison[] = [];
    let x = set.tensor(c.inputs.sample);
    timesteps.forEach((_, i) => {
      const r = chain.step(i, set.tensor(c.inputs[`model_output_${i}`]), x, noise);
      x = { data: r.prevSample, shape: x.shape };
      for (const [name, actual] of [[`prev_sample_${i}`, r.prevSample], [`pred_original_sample_${i}`, r.predOriginalSample]] as const) {
        items.push({ name, expected: set.tensor(c.outputs[name]), actual: { data: actual, shape: x.shape }, atol });
      }
    });
    if (noise.remaining !== 0) return fail(`${noise.remaining} recorded noise draws were not consumed`);
    return compare(items, atol);
  }
  return { status: "SKIP", detail: `no runner for scheduler case ${c.id}` };
}

/** Cases of kind "function": the pipelines' small latent helpers. */
export function runFunctionCase(set: CaseSet, c: Case): CaseResult {
  const atol = c.suggested_tolerance?.atol ?? 0;
  switch (c.id) {
    case "img2img.add_noise": {
      const original = set.tensor(c.inputs.original_samples);
      const timesteps = Array.from(set.tensor(c.inputs.timesteps).data);
      const actual = img2imgAddNoise(original, set.tensor(c.inputs.noise).data, timesteps);
      return compare([{ name: "noisy_samples", expected: set.tensor(c.outputs.noisy_samples), actual: { data: actual, shape: original.shape }, atol }], atol);
    }
    case "inpaint.prepare_mask": {
      const actual = prepareMask(set.tensor(c.inputs.mask));
      return compare([{ name: "mask", expected: set.tensor(c.outputs.mask), actual, atol }], atol);
    }
    case "get_new_h_w": {
      const cases: { h: number; w: number; scale_factor: number; result: number[] }[] = c.params.cases;
      return compare(cases.map((k) => exact(`get_new_h_w(${k.h}, ${k.w}, ${k.scale_factor})`, k.result, getNewHW(k.h, k.w, k.scale_factor))), 0);
    }
    default:
      return { status: "SKIP", detail: `no runner for function case ${c.id}` };
  }
}
