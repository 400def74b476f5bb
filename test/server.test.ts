// `kandinsky serve`: Cog's prediction API over the tiny models, on loopback only.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import sharp from "sharp";
import { startServer } from "../src/server/index.js";
import { client, recordEngines, receiver, serve, small, waitFor, type Server } from "./server-helpers.js";

const TOKEN = "s3cret";
/** The time limit of the restarted server: room for loading the tiny models on a busy machine. */
const LIMIT_S = 8;
const { engines, createEngine } = recordEngines();

let dataDir: string;
let server: Server;
let api: ReturnType<typeof client>;
let rx: Awaited<ReturnType<typeof receiver>>;
let png: Buffer;
let maskPng: Buffer;
const asDataUrl = (b: Buffer) => `data:image/png;base64,${b.toString("base64")}`;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "kandinsky-serve-"));
  png = await sharp({ create: { width: 96, height: 80, channels: 3, background: "#3060a0" } }).png().toBuffer();
  maskPng = await sharp({ create: { width: 96, height: 80, channels: 3, background: "#000" } })
    .composite([{ input: { create: { width: 48, height: 80, channels: 3, background: "#fff" } }, left: 0, top: 0 }]).png().toBuffer();
  rx = await receiver({ "/in.png": png });
  server = await serve({ dataDir, token: TOKEN, createEngine });
  api = client(server.url, TOKEN);
});

after(async () => {
  await server.close();
  await rx.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** Decoded size of a data URL or bytes. */
async function size(img: string | Buffer) {
  const bytes = typeof img === "string" ? Buffer.from(img.replace(/^data:[^,]*;base64,/, ""), "base64") : img;
  const m = await sharp(bytes).metadata();
  return `${m.format} ${m.width}x${m.height}`;
}

test("discovery, health, openapi, page, 404 and the token", async () => {
  const root = await api("GET", "/");
  assert.equal(root.status, 200);
  assert.equal(root.body.predictions_url, "/predictions");
  const page = await api("GET", "/", undefined, { accept: "text/html,application/xhtml+xml" });
  assert.match(page.body, /<form id="form"/);
  assert.equal((await api("GET", "/static/app.js")).status, 200);

  const health = await api("GET", "/health-check");
  assert.equal(health.body.status, "READY");
  assert.equal(health.body.setup.status, "succeeded");

  const openapi = (await api("GET", "/openapi.json")).body;
  const input = openapi.components.schemas.Input;
  assert.deepEqual(input.properties.width, {
    title: "width", type: "integer", minimum: 16, maximum: 1024, default: 512, "x-step": 64, "x-order": 10,
    description: "Image width in pixels (generated at the next multiple of 64, then cropped)",
  });
  assert.deepEqual(input.properties.scheduler.enum, ["ddim", "ddpm", "dpmpp_2m"]);
  assert.equal(openapi.components.schemas.PredictionRequest.properties.input.$ref, "#/components/schemas/Input");

  const missing = await api("GET", "/nope");
  assert.equal(missing.status, 404);
  assert.match(missing.body.detail, /Not Found: GET \/nope/);

  const anonymous = await client(server.url)("POST", "/predictions", { input: small });
  assert.equal(anonymous.status, 401);
  assert.match(anonymous.body.detail, /bearer token/);
  const wrong = await client(server.url, "other")("GET", "/predictions/x");
  assert.equal(wrong.status, 401);
});

test("health: STARTING while the models load, SETUP_FAILED with the error; predictions get 503 meanwhile", async () => {
  let fail!: (e: Error) => void;
  const loading = await startServer({
    host: "127.0.0.1", port: 0, queueSize: 0, dataDir: join(dataDir, "setup"), models: () => new Promise((_, reject) => (fail = reject)),
  });
  try {
    const call = client(loading.url);
    assert.equal((await call("GET", "/health-check")).body.status, "STARTING");
    const early = await call("POST", "/predictions", { input: small });
    assert.equal(early.status, 503);
    assert.equal(early.body.status, "failed");
    assert.match(early.body.error, /still loading/);
    fail(new Error("no such model: org/nothing"));
    const health = await waitFor("SETUP_FAILED", async () => {
      const h = (await call("GET", "/health-check")).body;
      return h.status === "SETUP_FAILED" ? h : undefined;
    });
    assert.equal(health.setup.status, "failed");
    assert.match(health.setup.logs, /no such model: org\/nothing/);
    assert.match((await call("POST", "/predictions", { input: small })).body.error, /failed to load: .*no such model/);
  } finally {
    await loading.close();
  }
});

test("a synchronous prediction: output as a data URL, written to the output folder, seed in logs and metrics", async () => {
  const r = await api("POST", "/predictions", { input: { ...small, seed: 7 } });
  assert.equal(r.status, 200);
  const p = r.body;
  assert.equal(p.status, "succeeded", p.error);
  assert.equal(p.output.length, 1);
  assert.match(p.output[0], /^data:image\/png;base64,/);
  assert.equal(await size(p.output[0]), "png 128x128");
  assert.equal(p.metrics.seed, 7);
  assert.ok(p.metrics.predict_time > 0);
  assert.match(p.logs, /^Using seed: 7\n/);
  assert.match(p.logs, /decoder 2\/2/);
  assert.deepEqual(p.input, { ...small, seed: 7, strength: 0.3, invert_mask: false, num_outputs: 1, guidance_scale: 4, prior_guidance_scale: 4, scheduler: "ddim", output_format: "png", output_quality: 80, precision: "fp32" });
  for (const k of ["created_at", "started_at", "completed_at"]) assert.ok(!Number.isNaN(Date.parse(p[k])), k);
  const onDisk = await readFile(join(dataDir, "outputs", `${p.id}-0.png`));
  assert.equal(`data:image/png;base64,${onDisk.toString("base64")}`, p.output[0]);
  assert.deepEqual((await api("GET", `/predictions/${p.id}`)).body, p);
});

test("async with a webhook: 202, then start ... completed in order; a random seed is reported", async () => {
  const r = await api("POST", "/predictions", { input: { ...small, num_outputs: 2, output_format: "jpeg" }, webhook: `${rx.url}/hook` }, { prefer: "respond-async" });
  assert.equal(r.status, 202);
  assert.equal(r.body.status, "starting");
  const id = r.body.id as string;
  const hooks = () => rx.requests.filter((q) => q.url === "/hook").map((q) => JSON.parse(q.body.toString()));
  await waitFor("the completed webhook", () => hooks().some((h) => h.status === "succeeded") || undefined);
  await new Promise((r) => setTimeout(r, 100)); // nothing may follow completed
  const events = hooks();
  assert.ok(events.every((e) => e.id === id));
  assert.equal(events[0].status, "starting");
  const rank = { starting: 0, processing: 1, succeeded: 2 } as Record<string, number>;
  const ranks = events.map((e) => rank[e.status]);
  assert.deepEqual(ranks, [...ranks].sort(), `statuses out of order: ${events.map((e) => e.status)}`);
  assert.equal(events.filter((e) => e.status === "succeeded").length, 1, "completed is sent once, last");
  const last = events.at(-1);
  assert.equal(last.output.length, 2);
  assert.equal(await size(last.output[1]), "jpeg 128x128");
  assert.ok(Number.isInteger(last.metrics.seed));
  assert.match(last.logs, new RegExp(`^Using seed: ${last.metrics.seed}\n`));
});

test("the event stream: progress per step, logs, output, then completed", async () => {
  const r = await api("POST", "/predictions", { input: { ...small, num_inference_steps: 6 } }, { prefer: "respond-async" });
  const res = await fetch(`${server.url}/predictions/${r.body.id}/events`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  const events = [...(await res.text()).matchAll(/event: (\w+)\ndata: (.*)\n\n/g)].map((m) => ({ event: m[1], data: JSON.parse(m[2]) }));
  assert.equal(events[0].event, "prediction");
  assert.equal(events.at(-1)!.event, "completed");
  assert.equal(events.at(-1)!.data.status, "succeeded");
  const decoder = events.filter((e) => e.event === "progress" && e.data.stage === "decoder").map((e) => e.data.step);
  assert.deepEqual(decoder, [1, 2, 3, 4, 5, 6]);
  const preview = events.find((e) => e.event === "progress" && e.data.stage === "decoder")!.data.preview;
  assert.deepEqual([preview.width, preview.height, Buffer.from(preview.rgb, "base64").length], [16, 16, 16 * 16 * 3]);
  assert.ok(events.some((e) => e.event === "logs" && /Using seed/.test(e.data.data)));
  assert.ok(events.findIndex((e) => e.event === "output") < events.length - 1);
});

test("cancel: a running prediction at its next step, a queued one at once, {} while in flight; 409 when the queue is full", async () => {
  const long = { ...small, num_inference_steps: 500 };
  const a = await api("POST", "/predictions", { id: "long-a", input: long }, { prefer: "respond-async" });
  await waitFor("a to run", async () => (await api("GET", "/predictions/long-a")).body.logs.includes("decoder 1/") || undefined);
  const b = await api("POST", "/predictions", { id: "long-b", input: long }, { prefer: "respond-async" });
  assert.equal(b.status, 202);
  assert.equal((await api("GET", "/health-check")).body.status, "BUSY");
  const c = await api("POST", "/predictions", { input: long }, { prefer: "respond-async" });
  assert.equal(c.status, 409);
  assert.deepEqual(c.body, { error: "the prediction queue is full; retry later", status: "failed" });

  const cb = await api("POST", "/predictions/long-b/cancel");
  assert.deepEqual([cb.status, cb.body], [200, {}]);
  const b2 = (await api("GET", "/predictions/long-b")).body;
  assert.equal(b2.status, "canceled");
  assert.equal(b2.started_at, null);
  assert.equal((await api("POST", "/predictions/long-b/cancel")).status, 404, "no longer in flight");
  assert.deepEqual((await api("POST", "/predictions/long-a/cancel")).body, {});
  const done = await waitFor("a to stop", async () => {
    const p = (await api("GET", "/predictions/long-a")).body;
    return p.status !== "processing" ? p : undefined;
  });
  assert.equal(done.status, "canceled");
  assert.equal(done.output, null);
  assert.doesNotMatch(done.logs, /decoder 500\/500/);
  assert.equal(a.status, 202);
  assert.equal((await api("POST", "/predictions/nope/cancel")).status, 404);
});

test("PUT is idempotent: the same id returns the existing prediction, not a second run", async () => {
  const first = await api("PUT", "/predictions/put-once", { input: { ...small, seed: 3 } });
  assert.equal(first.status, 200);
  assert.equal(first.body.status, "succeeded");
  const again = await api("PUT", "/predictions/put-once", { input: { ...small, seed: 4, prompt: "something else" } }, { prefer: "respond-async" });
  assert.equal(again.status, 202);
  assert.deepEqual(again.body, first.body);
  const viaPost = await api("POST", "/predictions", { id: "put-once", input: small });
  assert.deepEqual(viaPost.body, first.body);
  const outputs = (await readdir(join(dataDir, "outputs"))).filter((f) => f.startsWith("put-once"));
  assert.deepEqual(outputs, ["put-once-0.png"]);

  const mismatch = await api("PUT", "/predictions/put-two", { id: "other", input: small });
  assert.equal(mismatch.status, 422);
  assert.deepEqual(mismatch.body.detail[0].loc, ["body", "id"]);
});

test("invalid input: 422 naming the field", async () => {
  const cases: [unknown, (string | number)[]][] = [
    [{ ...small, width: 2000 }, ["body", "input", "width"]],
    [{ ...small, width: "512" }, ["body", "input", "width"]],
    [{ ...small, scheduler: "euler" }, ["body", "input", "scheduler"]],
    [{ ...small, prompt: undefined }, ["body", "input", "prompt"]],
    [{ ...small, task: "img2img", image: "data:image/png;base64,AAAA" }, ["body", "input", "image"]],
    [{ ...small, task: "img2img", image: "ftp://example.com/a.png" }, ["body", "input", "image"]],
    [{ ...small, task: "img2img" }, ["body", "input", "image"]],
    [{ ...small, task: "text2img", image: asDataUrl(png) }, ["body", "input", "image"]],
    [{ ...small, task: "mix", mix_texts: ["a", "b"], mix_weights: [1] }, ["body", "input", "mix_weights"]],
    [{ ...small, task: "mix", mix_images: [`${rx.url}/missing.png`] }, ["body", "input", "mix_images", 0]],
  ];
  for (const [input, loc] of cases) {
    const r = await api("POST", "/predictions", { input });
    assert.equal(r.status, 422, JSON.stringify(input));
    assert.deepEqual(r.body.detail[0].loc, loc, JSON.stringify(r.body));
    assert.equal(typeof r.body.detail[0].msg, "string");
    assert.match(r.body.detail[0].msg, new RegExp(`^input\\.${loc[2]}`));
  }
  const scheduler = await api("POST", "/predictions", { input: { ...small, scheduler: "euler" } });
  assert.match(scheduler.body.detail[0].msg, /must be one of ddim, ddpm, dpmpp_2m/);
  assert.equal((await api("POST", "/predictions", {})).body.detail[0].loc.join("."), "body.input");
  const text = await fetch(`${server.url}/predictions`, { method: "POST", headers: { "content-type": "text/plain", authorization: `Bearer ${TOKEN}` }, body: "hi" });
  assert.equal(((await text.json()) as { detail: { msg: string }[] }).detail[0].msg, "body must be object");
  const bad = await fetch(`${server.url}/predictions`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` }, body: "{" });
  assert.equal(bad.status, 400);
  assert.ok(((await bad.json()) as { detail: string }).detail);
});

test("img2img from a loopback URL with uploads to output_file_prefix; inpaint and mix from data URLs", async () => {
  const img2img = await api("POST", "/predictions", {
    input: { ...small, task: "img2img", image: `${rx.url}/in.png`, strength: 0.5, num_inference_steps: 4 },
    output_file_prefix: `${rx.url}/uploads`,
  });
  assert.equal(img2img.body.status, "succeeded", img2img.body.error);
  const name = `${img2img.body.id}-0.png`;
  assert.deepEqual(img2img.body.output, [`${rx.url}/uploads/${name}`]);
  const put = rx.requests.find((q) => q.method === "PUT" && q.url === `/uploads/${name}`)!;
  assert.equal(put.type, "image/png");
  assert.equal(await size(put.body), "png 128x128");

  // An 8 MB data URL: past the size at which ajv-formats' URI regex overflows the stack.
  const noise = await sharp(randomBytes(1500 * 1400 * 3), { raw: { width: 1500, height: 1400, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
  const inpaint = await api("POST", "/predictions", { input: { ...small, task: "inpaint", image: asDataUrl(noise), mask: asDataUrl(maskPng), output_format: "webp" } });
  assert.equal(inpaint.body.status, "succeeded", inpaint.body.error);
  assert.equal(await size(inpaint.body.output[0]), "webp 128x128");

  const mix = await api("POST", "/predictions", { input: { ...small, prompt: undefined, task: "mix", mix_texts: ["a cat"], mix_images: [asDataUrl(png)], mix_weights: [0.3, 0.7] } });
  assert.equal(mix.body.status, "succeeded", mix.body.error);
});

test("a killed inference process fails its prediction; the next one runs on a new Engine", async () => {
  const crashing = engines.at(-1)!;
  const started = await api("POST", "/predictions", { id: "crash", input: { ...small, num_inference_steps: 400 } }, { prefer: "respond-async" });
  assert.equal(started.status, 202);
  await waitFor("the prediction to run", async () => crashing.running || undefined);
  // SIGKILL mid-run, as a native crash or the kernel's OOM killer would end it.
  await crashing.close();
  const failed = await waitFor("the prediction to fail", async () => {
    const p = (await api("GET", "/predictions/crash")).body;
    return p.status === "failed" ? p : undefined;
  });
  assert.match(failed.error, /inference process stopped \(signal SIGKILL\)/);
  assert.notEqual(engines.at(-1), crashing, "a new Engine replaces the crashed one");
  const next = await api("POST", "/predictions", { input: small });
  assert.equal(next.body.status, "succeeded", next.body.error);
});

test("records survive a restart; one left running by a dead process is failed", async () => {
  const kept = (await api("GET", "/predictions/put-once")).body;
  await server.close();
  // What a process killed mid-prediction leaves behind.
  await writeFile(join(dataDir, "predictions", "died.json"), JSON.stringify({ ...kept, id: "died", status: "processing", output: null, completed_at: null }));
  server = await serve({ dataDir, token: TOKEN, predictTimeoutS: LIMIT_S, stopGraceS: 30, createEngine });
  api = client(server.url, TOKEN);
  assert.deepEqual((await api("GET", "/predictions/put-once")).body, kept);
  const died = (await api("GET", "/predictions/died")).body;
  assert.equal(died.status, "failed");
  assert.match(died.error, /server stopped/);
  assert.ok(died.completed_at);
  assert.equal((await api("GET", "/predictions/long-a")).body.status, "canceled");
});

test("a prediction past the time limit fails; the worker stops at its next step and serves the next one", async () => {
  // The worker is paused (SIGSTOP) mid-job, so the job overruns the limit on any machine, and resumed well within
  // the stop grace: it sees the cancel at its next step and is kept.
  assert.equal((await api("POST", "/predictions", { input: small })).body.status, "succeeded", "a warm worker");
  const engine = engines.at(-1)!;
  const started = Date.now();
  const slow = await api("POST", "/predictions", { id: "overrun", input: { ...small, num_inference_steps: 500 } }, { prefer: "respond-async" });
  assert.equal(slow.status, 202);
  await waitFor("the prediction to run", async () => (await api("GET", "/predictions/overrun")).body.logs.includes("decoder 1/") || undefined);
  process.kill(engine.pid!, "SIGSTOP");
  try {
    await new Promise((r) => setTimeout(r, Math.max(0, started + LIMIT_S * 1000 + 500 - Date.now())));
  } finally {
    process.kill(engine.pid!, "SIGCONT");
  }
  const failed = await waitFor("the prediction to fail", async () => {
    const p = (await api("GET", "/predictions/overrun")).body;
    return p.status === "failed" ? p : undefined;
  }, 30_000);
  assert.match(failed.error, new RegExp(`longer than the server's limit of ${LIMIT_S} s`));
  assert.ok(failed.metrics.predict_time >= LIMIT_S);
  const next = await api("POST", "/predictions", { input: small });
  assert.equal(next.body.status, "succeeded", next.body.error);
  assert.equal(engines.at(-1), engine, "a worker that stopped when asked is kept");
});
