import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CaseSet } from "../src/parity/cases.js";
import { formatResult } from "../src/parity/report.js";
import { runFunctionCase, runSchedulerCase } from "../src/parity/schedulers.js";
import type { NoiseSource } from "../src/noise/noise-source.js";
import {
  createDecoderScheduler, DDIMScheduler, DDPMScheduler, DPMSolverPP2MScheduler, loadScheduler, parseDDIMConfig,
  parseDDPMConfig, parseSchedulerConfig, parseUnCLIPConfig, readSchedulerConfig, SCHEDULER_NAMES, UnCLIPScheduler,
} from "../src/schedulers/index.js";
import { spacedTimesteps } from "../src/schedulers/spacing.js";
import { getNewHW, img2imgTimesteps, inpaintMask, guideUnetOutput, schedulerInput } from "../src/pipelines/latents.js";

const FIXTURES = fileURLToPath(new URL("../../../shared/fixtures/kandinsky21/", import.meta.url));
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
      s.setTimesteps(25);
      assert.equal(s.timesteps.length, 25);
      assert.equal(s.constructor.name, readSchedulerConfig(dir).className);
    }
  }
  assert.deepEqual(found.sort(), [
    "decoder/ddpm_scheduler:DDPMScheduler", "decoder/scheduler:DDIMScheduler",
    "inpaint/ddpm_scheduler:DDPMScheduler", "inpaint/scheduler:DDIMScheduler", "prior/scheduler:UnCLIPScheduler",
  ]);
  const ddpm = loadScheduler(join(FULL, "decoder", "ddpm_scheduler"));
  assert.ok(ddpm instanceof DDPMScheduler && ddpm.wantsVariance && ddpm.config.varianceType === "learned_range");
  assert.equal(loadScheduler(join(FULL, "decoder", "scheduler")).wantsVariance, false);
  for (const name of SCHEDULER_NAMES) assert.equal(createDecoderScheduler(name, join(FULL, "decoder")).name, name);
  assert.throws(() => createDecoderScheduler("euler", join(FULL, "decoder")), /unknown scheduler "euler"/);
});

test("configs: constructor defaults, unknown classes and bad values are refused clearly", () => {
  assert.deepEqual(parseDDIMConfig({}), {
    numTrainTimesteps: 1000, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: "linear", trainedBetas: null,
    clipSample: true, clipSampleRange: 1, thresholding: false, dynamicThresholdingRatio: 0.995, sampleMaxValue: 1,
    setAlphaToOne: true, stepsOffset: 0, predictionType: "epsilon", timestepSpacing: "leading", rescaleBetasZeroSnr: false,
  });
  assert.equal(parseDDPMConfig({}).varianceType, "fixed_small");
  assert.deepEqual(parseUnCLIPConfig({}), {
    numTrainTimesteps: 1000, varianceType: "fixed_small_log", clipSample: true, clipSampleRange: 1,
    predictionType: "epsilon", betaSchedule: "squaredcos_cap_v2",
  });
  assert.throws(() => parseSchedulerConfig({ _class_name: "EulerDiscreteScheduler" }), /unsupported scheduler class "EulerDiscreteScheduler"/);
  assert.throws(() => parseSchedulerConfig({}), /unsupported scheduler class undefined/);
  assert.throws(() => parseDDIMConfig({ beta_schedule: "cubic" }), /"beta_schedule" must be one of linear, scaled_linear, squaredcos_cap_v2/);
  assert.throws(() => parseDDPMConfig({ steps_offset: 0.5 }), /"steps_offset" must be an integer/);
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
  assert.throws(() => unclip.setTimesteps(1), /\[2, 1000\]/);
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
  const ddpm = new DDPMScheduler(parseDDPMConfig({ variance_type: "learned_range", steps_offset: 1 }));
  ddpm.setTimesteps(3);
  for (const t of ddpm.timesteps) ddpm.step(out2c, t, sample, counting);
  assert.deepEqual(draws, ["scheduling_ddpm.step", "scheduling_ddpm.step", "scheduling_ddpm.step"]); // 667, 334, 1: all > 0
  draws.length = 0;
  ddpm.step(out2c, 0, sample, counting);
  assert.equal(draws.length, 0);
  assert.throws(() => ddpm.step(sample, 1, sample, counting), /variance half/);

  const ddim = new DDIMScheduler(parseDDIMConfig({}));
  ddim.setTimesteps(3);
  for (const t of ddim.timesteps) ddim.step(sample, t, sample, noDraws);
  ddim.step(sample, ddim.timesteps[0], sample, counting, { eta: 1 });
  assert.deepEqual(draws, ["scheduling_ddim.step"]);
});

test("img2img timesteps and noise level follow the strength rule", () => {
  const ts = spacedTimesteps("leading", 1000, 10, 1);
  assert.deepEqual(img2imgTimesteps(ts, 10, 0.3, 1000), { timesteps: [201, 101, 1], latentTimestep: 298 });
  assert.deepEqual(img2imgTimesteps(ts, 10, 0.75, 1000), { timesteps: ts.slice(3), latentTimestep: 748 });
  assert.deepEqual(img2imgTimesteps(ts, 10, 1, 1000), { timesteps: ts, latentTimestep: 998 });
  assert.throws(() => img2imgTimesteps(ts, 10, 0, 1000), /strength/);
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

test("guidance on eps keeps the cond variance; DDIM gets eps only", () => {
  // batch [uncond, cond], 2 latent channels + 2 variance channels, 1x1.
  const out = { data: Float32Array.from([1, 2, 10, 20, 3, 6, 30, 60]), shape: [2, 4, 1, 1] };
  const g = guideUnetOutput(out, 2, 4);
  assert.deepEqual(g.shape, [1, 4, 1, 1]);
  assert.deepEqual(Array.from(g.data), [1 + 4 * 2, 2 + 4 * 4, 30, 60]);
  assert.deepEqual(Array.from(schedulerInput(g, 2, false).data), [9, 18]);
  assert.equal(schedulerInput(g, 2, true), g);
});

test("DPM-Solver++ 2M recovers x0 from exact eps, stays on the noise path and is deterministic", () => {
  const dir = existsSync(join(FULL, "decoder")) ? join(FULL, "decoder") : undefined;
  const make = () =>
    dir
      ? (createDecoderScheduler("dpmpp_2m", dir) as DPMSolverPP2MScheduler)
      : new DPMSolverPP2MScheduler({ ...parseDDIMConfig({ beta_start: 0.00085, beta_end: 0.012 }), timestepSpacing: "leading", stepsOffset: 1 });
  const run = (x0: Float32Array, n: Float32Array, steps: number) => {
    const s = make();
    s.setTimesteps(steps);
    const ts = s.timesteps;
    for (let i = 1; i < ts.length; i++) assert.ok(ts[i] < ts[i - 1], "timesteps must decrease");
    const shape = [1, 1, 2, x0.length / 2];
    let x: Float32Array = s.addNoise({ data: x0, shape }, n, [ts[0]]);
    for (let i = 0; i < ts.length; i++) {
      const a = s.alphasCumprod[ts[i]];
      // Exact eps of the current sample for this x0 (what a perfect model predicts).
      const eps = x.map((v, k) => (v - Math.sqrt(a) * x0[k]) / Math.sqrt(1 - a));
      const r = s.step({ data: eps, shape }, ts[i], { data: x, shape }, noDraws);
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
    s.setTimesteps(20);
    const ts = s.timesteps;
    let x: Float32Array = Float32Array.from([xT]);
    for (const t of ts.slice(0, -1)) {
      const a = s.alphasCumprod[t], alpha = Math.sqrt(a), sigma = Math.sqrt(1 - a);
      const x0 = mu + ((sd * sd * alpha) / (a * sd * sd + sigma * sigma)) * (x[0] - alpha * mu);
      const eps = Float32Array.from([(x[0] - alpha * x0) / sigma]);
      x = s.step({ data: eps, shape }, t, { data: x, shape }, noDraws).prevSample;
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
    s.setTimesteps(10);
    return Array.from(s.step(out, s.timesteps[0], sample, noDraws).predOriginalSample);
  };
  // Item 0: |x| sorted [0.5, 1.5, 3, 4], median 2.25, capped at sample_max_value 2 → clamp to ±2, divide by 2.
  // Item 1: median 0.25 < 1 → s = 1, unchanged.
  assert.deepEqual(x0({ thresholding: true, dynamic_thresholding_ratio: 0.5, sample_max_value: 2 }), [0.25, 1, -1, 0.75, ...out.data.slice(4)]);
  assert.deepEqual(x0({ clip_sample: true, clip_sample_range: 1 }), [0.5, 1, -1, 1, ...out.data.slice(4)]);
  assert.deepEqual(x0({ clip_sample: false }), Array.from(out.data));
});
