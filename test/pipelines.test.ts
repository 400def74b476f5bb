import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { runParity } from "../src/parity/run.js";
import { Engine } from "../src/engine/engine.js";
import { RequestError } from "../src/pipelines/kandinsky.js";
import { CancelledError, type ProgressEvent } from "../src/pipelines/progress.js";

const tiny = fileURLToPath(new URL("../../../shared/fixtures/kandinsky21/tiny-a", import.meta.url));
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
    await assert.rejects(engine.run({ prompt: "x", scheduler: "euler" as never }), /unknown scheduler "euler"/);
    await assert.rejects(engine.run({ task: "inpaint", prompt: "x", width: 64, height: 64 }), /inpaint needs an image/);
    const ok = await engine.run({ prompt: "x", width: 64, height: 64, steps: 2, priorSteps: 2, seed: 3 });
    assert.equal(ok.images.length, 1);
  } finally {
    await engine.close();
  }
});

test("an unavailable provider falls back to CPU with a warning naming it", async () => {
  const engine = new Engine({ dirs, options: { provider: "cuda" } });
  try {
    const warnings: string[] = [];
    const r = await engine.run({ prompt: "x", width: 64, height: 64, steps: 2, priorSteps: 2, seed: 3 }, { onWarning: (w) => warnings.push(w) });
    assert.equal(r.images.length, 1);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /provider "cuda" is not available .*; using cpu/);
  } finally {
    await engine.close();
  }
});
