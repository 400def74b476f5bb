import { test } from "node:test";
import assert from "node:assert/strict";
import { runParity } from "../src/parity/run.js";
import { Engine, type EngineEvents } from "../src/engine/engine.js";
import type { WorkerInit } from "../src/engine/protocol.js";
import { Graph } from "../src/runtime/graph.js";
import type { Provider } from "../src/runtime/session.js";
import { RequestError } from "../src/pipelines/kandinsky.js";
import { CancelledError, type ProgressEvent } from "../src/pipelines/progress.js";
import { fixture } from "./fixtures.js";

const tiny = fixture("tiny-a");
const dirs = { prior: `${tiny}/prior`, decoder: `${tiny}/decoder`, inpaint: `${tiny}/inpaint` };
const options = { provider: "cpu" as const, build: { compute: "float32" as const, attention: "fused" as const } };

test("every scheduler, helper, pipeline and end-to-end case of tiny-a passes", async () => {
  const lines = [];
  for await (const l of runParity(tiny, { only: ["scheduler.", "img2img.", "inpaint.", "get_new_h_w", "pipeline.", "e2e."], build: options.build, session: {} })) {
    lines.push(l);
  }
  assert.equal(lines.length, 25);
  for (const l of lines) assert.equal(l.result.status, "PASS", `${l.id}: ${l.result.detail}`);
});

test("the worker engine reports progress per step and returns exactly the requested size, reproducibly", async () => {
  const engine = new Engine({ dirs, options });
  try {
    const events: ProgressEvent[] = [];
    const req = { prompt: "a red cat", width: 72, height: 40, steps: 3, priorSteps: 3, seed: 7, numOutputs: 2 };
    const a = await engine.run(req, { onProgress: (e) => events.push(e), preview: true });
    assert.equal(a.seed, 7);
    assert.equal(a.images.length, 2);
    for (const im of a.images) assert.deepEqual([im.width, im.height, im.data.length], [72, 40, 72 * 40 * 3]);
    assert.deepEqual(events.filter((e) => e.stage === "prior").map((e) => e.step), [1, 2, 3]);
    const decoder = events.filter((e) => e.stage === "decoder");
    assert.deepEqual(decoder.map((e) => [e.step, e.total]), [[1, 3], [2, 3], [3, 3]]);
    // Previews at latent resolution of the rounded 128x64 (WxH) generation: 16x8.
    for (const e of decoder) assert.deepEqual([e.preview?.width, e.preview?.height, e.preview?.data.length], [16, 8, 16 * 8 * 3]);
    const b = await engine.run(req);
    assert.deepEqual(b.images[0].data, a.images[0].data);
    const c = await engine.run({ ...req, seed: 8 });
    assert.notDeepEqual(c.images[0].data, a.images[0].data);
  } finally {
    await engine.close();
  }
});

test("a job is cancelled between steps; bad requests are RequestErrors; the engine keeps working", async () => {
  const engine = new Engine({ dirs, options });
  try {
    const ac = new AbortController();
    const job = engine.run({ prompt: "x", width: 64, height: 64, steps: 50, priorSteps: 3, seed: 1 }, {
      signal: ac.signal,
      onProgress: (e) => { if (e.stage === "decoder" && e.step === 2) ac.abort(); },
    });
    await assert.rejects(job, CancelledError);
    await assert.rejects(engine.run({ prompt: "x", width: 0 }), (e: Error) => e instanceof RequestError && /width/.test(e.message));
    await assert.rejects(engine.run({ prompt: "x", scheduler: "euler" as never }), /scheduler must be one of ddim, ddpm, dpmpp_2m, got "euler"/);
    await assert.rejects(engine.run({ task: "inpaint", prompt: "x", width: 64, height: 64 }), /image is required for task inpaint/);
    const ok = await engine.run({ prompt: "x", width: 64, height: 64, steps: 2, priorSteps: 2, seed: 3 });
    assert.equal(ok.images.length, 1);
  } finally {
    await engine.close();
  }
});

/** A tiny job, and a provider whose check fails on any machine: no CUDA device is visible to the inference process. */
const quick = { prompt: "x", width: 64, height: 64, steps: 2, priorSteps: 2, seed: 3 };
const NO_CUDA_DEVICE = { CUDA_VISIBLE_DEVICES: "" };

/** An Engine whose inference process starts now, in this process's environment plus `env`. */
function launched(env: Record<string, string>, init: WorkerInit, events?: EngineEvents): Engine {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const engine = new Engine(init, events);
    engine.launch();
    return engine;
  } finally {
    process.env = saved;
  }
}

test("the inference process checks its provider once; one that cannot start falls back to cpu with one warning", async () => {
  const engine = launched(NO_CUDA_DEVICE, { dirs, options: { provider: "cuda" } });
  try {
    const warnings: string[][] = [[], []];
    for (const w of warnings) {
      const r = await engine.run(quick, { onWarning: (m) => w.push(m) });
      assert.equal(r.images.length, 1);
    }
    // Told to the first job (the Engine has no listener of its own), and not again.
    assert.equal(warnings[0].length, 1, `${warnings[0]}`);
    assert.match(warnings[0][0], /^provider "cuda" is not available \(.+\); using cpu$/);
    assert.deepEqual(warnings[1], []);
  } finally {
    await engine.close();
  }
});

test("a process warning goes to the Engine's own listener, as its inference process starts, and not to the jobs", async () => {
  let told: (m: string) => void;
  const warning = new Promise<string>((r) => (told = r));
  const engine = launched(NO_CUDA_DEVICE, { dirs, options: { provider: "cuda" } }, { onWarning: (m) => told(m) });
  const keepAlive = setInterval(() => {}, 1000); // an idle engine does not keep this process alive
  try {
    assert.match(await warning, /^provider "cuda" is not available/);
    clearInterval(keepAlive);
    const jobWarnings: string[] = [];
    await engine.run(quick, { onWarning: (m) => jobWarnings.push(m) });
    assert.deepEqual(jobWarnings, []);
  } finally {
    clearInterval(keepAlive);
    await engine.close();
  }
});

/** Whether ONNX Runtime starts `provider` here, asked directly rather than through our check. */
async function providerStarts(provider: Provider): Promise<boolean> {
  const ort = (await import("onnxruntime-node")).default;
  ort.env.logLevel = "fatal";
  const g = new Graph("probe");
  g.output(g.input("x", "float32", [1]).add(1), "y");
  try {
    await (await ort.InferenceSession.create(Buffer.from(g.encode()), { executionProviders: [provider] })).release();
    return true;
  } catch {
    return false;
  }
}

for (const provider of ["webgpu", "cuda"] as const) {
  test(`${provider}, where it starts, is used without a warning`, async (t) => {
    if (!(await providerStarts(provider))) return t.skip(`${provider} does not start on this machine (the fallback is tested above)`);
    const engine = new Engine({ dirs, options: { provider } });
    try {
      const warnings: string[] = [];
      const r = await engine.run(quick, { onWarning: (m) => warnings.push(m) });
      assert.equal(r.images.length, 1);
      assert.deepEqual(warnings, []);
    } finally {
      await engine.close();
    }
  });
}
