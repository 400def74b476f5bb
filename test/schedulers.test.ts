import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CaseSet } from "../src/parity/cases.js";
import { formatResult } from "../src/parity/report.js";
import { runFunctionCase, runSchedulerCase } from "../src/parity/schedulers.js";
import type { NoiseSource } from "../src/noise/noise-source.js";
import {
  createDecoderScheduler, DDIMScheduler, DDPMScheduler, DPMSolverPP2MScheduler, loadScheduler, parseDDIMConfig,
  parseDDPMConfig, parseUnCLIPConfig, readRawConfig, SCHEDULER_NAMES, schedulerFromConfig, UnCLIPScheduler,
} from "../src/schedulers/index.js";
import { spacedTimesteps } from "../src/schedulers/spacing.js";
import { getNewHW, img2imgNoiseTimestep, inpaintMask } from "../src/pipelines/latents.js";
import { guideUnetOutput } from "../src/pipelines/denoise.js";
import { FIXTURES } from "./fixtures.js";

const TINY_A = join(FIXTURES, "tiny-a");
const FULL = join(FIXTURES, "full-configs");
const noFixtures = !existsSync(TINY_A) && "no fixtures";

/** A noise source that must never be drawn from. */
const noDraws: NoiseSource = {
  randn(shape, drawnBy) {
    throw new Error(`unexpected draw of [${shape}] by ${drawnBy}`);
  },
};

test("scheduler and function reference cases pass", { skip: noFixtures }, () => {
  const set = new CaseSet(TINY_A);
  const cases = set.cases.filter((c) => c.kind === "scheduler" || c.kind === "function");
  const ids = cases.map((c) => c.id);
  for (const id of ["scheduler.ddim.timesteps", "scheduler.ddpm.steps", "scheduler.unclip.steps", "img2img.add_noise", "inpaint.prepare_mask", "get_new_h_w"]) {
    assert.ok(ids.includes(id), `missing case ${id}`);
  }
  for (const c of cases) {
    const r = c.kind === "scheduler" ? runSchedulerCase(set, c) : runFunctionCase(set, c);
    console.log(formatResult(c.id, r));
    assert.equal(r.status, "PASS", formatResult(c.id, r));
    // The float32 emulation (linspace, cumprod, SLEEF exp) reproduces these bit for bit; keep it that way.
    assert.equal(r.maxAbs, 0, `not bit-exact: ${formatResult(c.id, r)}`);
  }
});

test("a wrong scheduler output fails its case", { skip: noFixtures }, () => {
  const set = new CaseSet(TINY_A);
  const c = structuredClone(set.get("scheduler.ddpm.steps"));
  c.outputs.prev_sample_1 = c.outputs.prev_sample_2;
  assert.equal(runSchedulerCase(set, c).status, "FAIL");
  const t = structuredClone(set.get("scheduler.unclip.timesteps"));
  t.params.timesteps_by_num_inference_steps["5"][2] += 1;
  assert.equal(runSchedulerCase(set, t).status, "FAIL");
});

test("full-size scheduler configs load with the right classes", { skip: !existsSync(FULL) && "no fixtures" }, () => {
  const found: string[] = [];
  for (const repo of readdirSync(FULL)) {
    for (const folder of readdirSync(join(FULL, repo)).filter((f) => f.includes("scheduler"))) {
      const dir = join(FULL, repo, folder);
      const s = loadScheduler(dir);
      found.push(`${repo}/${folder}:${s.constructor.name}`);
      assert.equal(s.chain(25).length, 25);
      assert.equal(s.constructor.name, readRawConfig(dir).raw._class_name);
    }
  }
  assert.deepEqual(found.sort(), [
    "decoder/ddpm_scheduler:DDPMScheduler", "decoder/scheduler:DDIMScheduler",
    "inpaint/ddpm_scheduler:DDPMScheduler", "inpaint/scheduler:DDIMScheduler", "prior/scheduler:UnCLIPScheduler",
  ]);
  const ddpm = loadScheduler(join(FULL, "decoder", "ddpm_scheduler"));
  assert.ok(ddpm instanceof DDPMScheduler && ddpm.learnedVariance && ddpm.config.varianceType === "learned_range");
  assert.ok(loadScheduler(join(FULL, "decoder", "scheduler")) instanceof DDIMScheduler);
  for (const name of SCHEDULER_NAMES) assert.equal(createDecoderScheduler(name, join(FULL, "decoder")).name, name);
  assert.throws(() => createDecoderScheduler("euler", join(FULL, "decoder")), /unknown scheduler "euler"/);
});

// Constructor defaults: test/configs.test.ts.
test("configs: unknown classes and bad values are refused clearly", () => {
  assert.throws(() => schedulerFromConfig({ _class_name: "EulerDiscreteScheduler" }), /unsupported scheduler class "EulerDiscreteScheduler" \(supported: DDIMScheduler, DDPMScheduler, UnCLIPScheduler\)/);
  assert.throws(() => schedulerFromConfig({}), /unsupported scheduler class undefined/);
  assert.ok(schedulerFromConfig({ _class_name: "UnCLIPScheduler" }) instanceof UnCLIPScheduler);
  assert.throws(() => parseDDIMConfig({ beta_schedule: "cubic" }), /"beta_schedule" must be one of linear, scaled_linear, squaredcos_cap_v2/);
  assert.throws(() => parseDDPMConfig({ steps_offset: 0.5 }), /"steps_offset" must be an integer/);
});

test("ddpm for a repo without ddpm_scheduler/: the text-to-image decoder's when trained on the same betas, else from_config of its own scheduler", async () => {
  const real = join(FIXTURES, "real-layout");
  const inpaint = join(real, "inpaint"), decoder = join(real, "decoder");
  const ddpm = (repo: string, textToImageDir?: string) => {
    const notes: string[] = [];
    const scheduler = createDecoderScheduler("ddpm", repo, { textToImageDir, onNote: (n) => notes.push(n) }) as DDPMScheduler;
    return { config: scheduler.config, scheduler, notes };
  };
  assert.deepEqual(ddpm(join(TINY_A, "inpaint"), decoder).notes, []);

  const borrowed = ddpm(inpaint, decoder);
  assert.deepEqual(borrowed.config, parseDDPMConfig(readRawConfig(join(decoder, "ddpm_scheduler")).raw));
  assert.deepEqual(borrowed.notes, [`${inpaint} has no ddpm_scheduler/: ddpm uses the text-to-image decoder's ${decoder}/ddpm_scheduler (same training betas)`]);
  assert.deepEqual(ddpm(decoder, decoder).notes, []);

  // DDPMScheduler.from_config(DDIM config): the shared keys (betas, clip_sample false, steps_offset 1, ...) carry over,
  // variance_type takes DDPM's default.
  const fromConfig = {
    numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, betaSchedule: "linear", trainedBetas: null,
    clipSample: false, clipSampleRange: 1, thresholding: false, dynamicThresholdingRatio: 0.995, sampleMaxValue: 1,
    varianceType: "fixed_small", predictionType: "epsilon", timestepSpacing: "leading", stepsOffset: 1,
  };
  const alone = ddpm(inpaint);
  assert.deepEqual(alone.config, fromConfig);
  assert.deepEqual(alone.notes, [`${inpaint} has no ddpm_scheduler/: ddpm is DDPMScheduler.from_config of ${inpaint}/scheduler, its betas with variance_type fixed_small`]);
  assert.deepEqual(alone.scheduler.chain(4).timesteps, [751, 501, 251, 1]);

  // A text-to-image decoder trained on other betas is not borrowed from.
  const other = await mkdtemp(join(tmpdir(), "ddpm-"));
  try {
    await mkdir(join(other, "ddpm_scheduler"));
    const raw = JSON.parse(await readFile(join(decoder, "ddpm_scheduler", "scheduler_config.json"), "utf8"));
    await writeFile(join(other, "ddpm_scheduler", "scheduler_config.json"), JSON.stringify({ ...raw, beta_end: 0.02 }));
    const refused = ddpm(inpaint, other);
    assert.deepEqual(refused.config, fromConfig);
    assert.match(refused.notes[0]!, new RegExp(`\\(the text-to-image decoder's ${other}/ddpm_scheduler has other betas\\)$`));
  } finally {
    await rm(other, { recursive: true, force: true });
  }
});

test("timestep spacings follow numpy (values from numpy 2.x)", () => {
  assert.deepEqual(spacedTimesteps("leading", 1000, 4, 1), [751, 501, 251, 1]);
  assert.deepEqual(spacedTimesteps("trailing", 1000, 3, 0), [999, 666, 332]);
  assert.deepEqual(spacedTimesteps("trailing", 1000, 7, 0), [999, 856, 713, 570, 428, 285, 142]);
  assert.deepEqual(spacedTimesteps("linspace", 1000, 4, 1), [999, 666, 333, 0]);
  assert.deepEqual(spacedTimesteps("linspace", 1000, 6, 0), [999, 799, 599, 400, 200, 0]);
  assert.deepEqual(spacedTimesteps("linspace", 1000, 1, 0), [0]);
  assert.throws(() => spacedTimesteps("trailing", 1000, 61, 0), /timestep -1/);
  assert.throws(() => spacedTimesteps("leading", 1000, 1001, 0), /num_inference_steps/);
  const unclip = new UnCLIPScheduler(parseUnCLIPConfig({}));
  assert.throws(() => unclip.chain(1), /\[2, 1000\]/);
  assert.throws(() => new DDIMScheduler(parseDDIMConfig({ steps_offset: 1 })).chain(1000), /timestep 1000 is not an integer in \[0, 1000\)/);
});

test("DDIM and DDPM add_noise use sqrt(alpha_bar) and sqrt(1 - alpha_bar) per batch item", () => {
  const ddim = new DDIMScheduler(parseDDIMConfig({ beta_schedule: "scaled_linear", beta_start: 0.00085, beta_end: 0.012 }));
  const x0 = { data: Float32Array.from([1, 2, 3, 4]), shape: [2, 2] };
  const noise = Float32Array.from([1, 1, -1, -1]);
  const out = ddim.addNoise(x0, noise, [0, 999]);
  const a = ddim.alphasCumprod;
  const want = [0, 1, 2, 3].map((i) => Math.sqrt(a[i < 2 ? 0 : 999]) * x0.data[i] + Math.sqrt(1 - a[i < 2 ? 0 : 999]) * noise[i]);
  out.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-6, `${v} vs ${want[i]}`));
  assert.ok(a[0] > a[500] && a[500] > a[999] && a[999] > 0);
});

test("stochastic steps draw exactly when the reference does", () => {
  const draws: string[] = [];
  const counting: NoiseSource = {
    randn(shape, drawnBy) {
      draws.push(drawnBy);
      return new Float32Array(shape.reduce((x, y) => x * y, 1));
    },
  };
  const sample = { data: new Float32Array(8), shape: [1, 2, 2, 2] };
  const out2c = { data: new Float32Array(16), shape: [1, 4, 2, 2] };
  const walk = (offset: number) => {
    const chain = new DDPMScheduler(parseDDPMConfig({ variance_type: "learned_range", steps_offset: offset })).chain(3);
    draws.length = 0;
    for (let i = 0; i < chain.length; i++) chain.step(i, out2c, sample, counting);
    return { timesteps: chain.timesteps, draws: draws.length };
  };
  assert.deepEqual(walk(1), { timesteps: [667, 334, 1], draws: 3 });
  assert.deepEqual(walk(0), { timesteps: [666, 333, 0], draws: 2 }); // none at t = 0
  assert.deepEqual(draws, ["scheduling_ddpm.step", "scheduling_ddpm.step"]);
  const chain = new DDPMScheduler(parseDDPMConfig({ variance_type: "learned_range" })).chain(3);
  assert.throws(() => chain.step(0, sample, sample, counting), /variance half/);
  assert.throws(() => chain.step(3, out2c, sample, counting), /step 3 is not in a chain of 3 timesteps/);

  const ddim = new DDIMScheduler(parseDDIMConfig({})).chain(3);
  for (let i = 0; i < ddim.length; i++) ddim.step(i, sample, sample, noDraws);
});

test("img2img timesteps and noise level follow the strength rule", () => {
  const chain = new DDIMScheduler(parseDDIMConfig({ steps_offset: 1 })).chain(10);
  const ts = chain.timesteps;
  assert.deepEqual(ts, spacedTimesteps("leading", 1000, 10, 1));
  assert.deepEqual(chain.from(0.3).timesteps, [201, 101, 1]);
  assert.deepEqual(chain.from(0.75).timesteps, ts.slice(3));
  assert.deepEqual(chain.from(1).timesteps, ts);
  assert.deepEqual(chain.from(0.05).timesteps, []);
  assert.deepEqual([0.3, 0.75, 1].map((s) => img2imgNoiseTimestep(s, 1000)), [298, 748, 998]);
  assert.throws(() => chain.from(0), /strength/);
  assert.throws(() => img2imgNoiseTimestep(0, 1000), /strength/);
  assert.throws(() => img2imgNoiseTimestep(0.001, 1000), /noise timestep >= 0/);
  // A truncated chain steps as the full one does from the same index.
  const x = { data: Float32Array.from([0.5, -1]), shape: [1, 2] }, eps = { data: Float32Array.from([0.1, 0.2]), shape: [1, 2] };
  assert.deepEqual(chain.from(0.3).step(0, eps, x, noDraws), chain.step(7, eps, x, noDraws));
  assert.deepEqual(getNewHW(100, 130, 8), [16, 24]);
});

test("inpaint mask: threshold, invert, nearest resize, then the 6-neighbour rule", () => {
  // 4x4 pixel mask, repaint (1) only at pixel (1, 2); to 2x2 latents.
  const m = new Float32Array(16);
  m[1 * 4 + 2] = 0.7;
  m[3 * 4 + 3] = 0.4; // below the threshold: kept
  const out = inpaintMask({ data: m, shape: [4, 4] }, 2, 2);
  assert.deepEqual(out.shape, [1, 1, 2, 2]);
  // nearest picks source rows/cols 0 and 2: latent (0,1) ← pixel (0,2) = keep; latent (1,1) ← pixel (2,2) = keep.
  assert.deepEqual(Array.from(out.data), [1, 1, 1, 1]);
  const direct = inpaintMask({ data: Float32Array.from([1, 0, 0, 0, 0, 0, 0, 0, 0]), shape: [3, 3] }, 3, 3);
  // The repaint pixel (0,0) becomes 0 and zeroes (1,0), (0,1), (1,1) only.
  assert.deepEqual(Array.from(direct.data), [0, 0, 1, 0, 0, 1, 1, 1, 1]);
});

test("guidance on eps keeps the cond variance; DDIM reads eps only", () => {
  // batch [uncond, cond], 2 latent channels + 2 variance channels, 1x1.
  const out = { data: Float32Array.from([1, 2, 10, 20, 3, 6, 30, 60]), shape: [2, 4, 1, 1] };
  const g = guideUnetOutput(out, 2, 4);
  assert.deepEqual(g.shape, [1, 4, 1, 1]);
  assert.deepEqual(Array.from(g.data), [1 + 4 * 2, 2 + 4 * 4, 30, 60]);
  const sample = { data: Float32Array.from([0.5, -0.5]), shape: [1, 2, 1, 1] };
  const eps = { data: g.data.slice(0, 2), shape: sample.shape };
  const ddim = new DDIMScheduler(parseDDIMConfig({})).chain(4);
  assert.deepEqual(ddim.step(0, g, sample, noDraws), ddim.step(0, eps, sample, noDraws));
  assert.throws(() => ddim.step(0, { data: new Float32Array(3), shape: [1, 3, 1, 1] }, sample, noDraws), /neither the sample's shape/);
});

test("DPM-Solver++ 2M recovers x0 from exact eps, stays on the noise path and is deterministic", () => {
  const dir = existsSync(join(FULL, "decoder")) ? join(FULL, "decoder") : undefined;
  const make = () =>
    dir
      ? (createDecoderScheduler("dpmpp_2m", dir) as DPMSolverPP2MScheduler)
      : new DPMSolverPP2MScheduler({ ...parseDDIMConfig({ beta_start: 0.00085, beta_end: 0.012 }), timestepSpacing: "leading", stepsOffset: 1 });
  const run = (x0: Float32Array, n: Float32Array, steps: number) => {
    const s = make();
    const chain = s.chain(steps);
    const ts = chain.timesteps;
    for (let i = 1; i < ts.length; i++) assert.ok(ts[i] < ts[i - 1], "timesteps must decrease");
    const shape = [1, 1, 2, x0.length / 2];
    let x: Float32Array = s.addNoise({ data: x0, shape }, n, [ts[0]]);
    for (let i = 0; i < ts.length; i++) {
      const a = s.alphasCumprod[ts[i]];
      // Exact eps of the current sample for this x0 (what a perfect model predicts).
      const eps = x.map((v, k) => (v - Math.sqrt(a) * x0[k]) / Math.sqrt(1 - a));
      const r = chain.step(i, { data: eps, shape }, { data: x, shape }, noDraws);
      r.predOriginalSample.forEach((v, k) => assert.ok(Math.abs(v - x0[k]) < 1e-4));
      x = r.prevSample;
      if (i + 1 < ts.length) {
        // Still on the forward path x_t = sqrt(a) x0 + sqrt(1-a) n at the next timestep.
        const next = s.alphasCumprod[ts[i + 1]];
        x.forEach((v, k) => assert.ok(Math.abs(v - (Math.sqrt(next) * x0[k] + Math.sqrt(1 - next) * n[k])) < 1e-3));
      }
    }
    return x;
  };
  const x0 = Float32Array.from([0.5, -1, 2, 0.25, -0.75, 1.5]);
  const n = Float32Array.from([1.2, -0.3, 0.8, -1.5, 0.1, 2.0]);
  for (const steps of [25, 30]) {
    const a = run(x0, n, steps), b = run(x0, n, steps);
    assert.deepEqual(a, b);
    a.forEach((v, k) => assert.ok(Math.abs(v - x0[k]) < 1e-4, `${v} vs ${x0[k]}`));
  }
});

test("DPM-Solver++ 2M follows the probability-flow ODE more closely than DDIM", () => {
  // Data ~ N(mu, s²) has an exact denoiser, x0(x_t) = mu + s²α/(α²s² + σ²) · (x_t - α mu), and an exact ODE
  // solution along which z = (x_t - α mu) / √(α²s² + σ²) stays constant. Both solvers run 20 steps from
  // t=999 (trailing spacing); compare the state reached at the last timestep, before the jump to clean.
  const mu = 0.3, sd = 0.5, xT = 1.7, shape = [1, 1, 1, 1];
  const cfg = parseDDIMConfig({ beta_start: 0.00085, beta_end: 0.012, clip_sample: false, timestep_spacing: "trailing" });
  const scale = (a: number) => Math.sqrt(a * sd * sd + 1 - a);
  const solve = (s: DDIMScheduler | DPMSolverPP2MScheduler) => {
    const chain = s.chain(20);
    const ts = chain.timesteps;
    let x: Float32Array = Float32Array.from([xT]);
    for (let i = 0; i + 1 < ts.length; i++) {
      const t = ts[i];
      const a = s.alphasCumprod[t], alpha = Math.sqrt(a), sigma = Math.sqrt(1 - a);
      const x0 = mu + ((sd * sd * alpha) / (a * sd * sd + sigma * sigma)) * (x[0] - alpha * mu);
      const eps = Float32Array.from([(x[0] - alpha * x0) / sigma]);
      x = chain.step(i, { data: eps, shape }, { data: x, shape }, noDraws).prevSample;
    }
    const [aFirst, aLast] = [s.alphasCumprod[ts[0]], s.alphasCumprod[ts[ts.length - 1]]];
    const z = (xT - Math.sqrt(aFirst) * mu) / scale(aFirst);
    return { got: x[0], exact: Math.sqrt(aLast) * mu + scale(aLast) * z };
  };
  const ddim = solve(new DDIMScheduler(cfg));
  const dpm = solve(new DPMSolverPP2MScheduler(cfg));
  console.log(`at the last timestep: exact ${dpm.exact}, dpm++2m ${dpm.got}, ddim ${ddim.got}`);
  assert.equal(dpm.exact, ddim.exact);
  assert.ok(Math.abs(dpm.got - dpm.exact) < Math.abs(ddim.got - ddim.exact) / 4);
  assert.ok(Math.abs(dpm.got - dpm.exact) < 5e-3);
});

test("predicted x0 is thresholded (per batch item quantile) or clipped as configured", () => {
  const shape = [2, 1, 2, 2];
  const out = { data: Float32Array.from([0.5, 3, -4, 1.5, 0.2, -0.4, 0.1, 0.3]), shape };
  const sample = { data: new Float32Array(8), shape };
  const x0 = (raw: Record<string, unknown>) => {
    const s = new DDIMScheduler(parseDDIMConfig({ prediction_type: "sample", ...raw }));
    return Array.from(s.chain(10).step(0, out, sample, noDraws).predOriginalSample);
  };
  // Item 0: |x| sorted [0.5, 1.5, 3, 4], median 2.25, capped at sample_max_value 2 → clamp to ±2, divide by 2.
  // Item 1: median 0.25 < 1 → s = 1, unchanged.
  assert.deepEqual(x0({ thresholding: true, dynamic_thresholding_ratio: 0.5, sample_max_value: 2 }), [0.25, 1, -1, 0.75, ...out.data.slice(4)]);
  assert.deepEqual(x0({ clip_sample: true, clip_sample_range: 1 }), [0.5, 1, -1, 1, ...out.data.slice(4)]);
  assert.deepEqual(x0({ clip_sample: false }), Array.from(out.data));
});
