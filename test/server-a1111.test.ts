// The AUTOMATIC1111 API of `kandinsky serve`, called exactly as Open WebUI and SillyTavern call it, over the
// tiny models. The server has --api-auth (A1111's Basic credentials) and a token; the A1111 routes take either.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import sharp from "sharp";
import { serve, small, waitFor, type Server } from "./server-helpers.js";

const TOKEN = "s3cret";
const AUTH = "st:pass word";
let dataDir: string;
let server: Server;

/** SillyTavern's header (getBasicAuthHeader: "Basic " + base64 of its auth setting) and Open WebUI's. */
const basic = (auth: string) => `Basic ${Buffer.from(auth).toString("base64")}`;

async function call(method: string, path: string, body?: unknown, authorization = basic(AUTH), signal?: AbortSignal) {
  const res = await fetch(`${server.url}/sdapi/v1${path}`, {
    method, signal,
    headers: { authorization, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any }; // JSON under test
}

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "kandinsky-a1111-"));
  server = await serve({ dataDir, token: TOKEN, apiAuth: [AUTH] });
});

after(async () => {
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
});

const sizeOf = async (b64: string) => {
  const m = await sharp(Buffer.from(b64, "base64")).metadata();
  return `${m.format} ${m.width}x${m.height}`;
};
const fast = { steps: small.num_inference_steps, num_steps_prior: small.num_steps_prior, width: 128, height: 128 };

test("credentials: --api-auth's Basic users or the bearer token; A1111's 401 otherwise; the Cog routes still want the token", async () => {
  assert.equal((await call("GET", "/options")).status, 200);
  assert.equal((await call("GET", "/options", undefined, `Bearer ${TOKEN}`)).status, 200);
  const wrong = await call("GET", "/options", undefined, basic("st:nope"));
  assert.equal(wrong.status, 401);
  assert.equal(wrong.body.detail, "Incorrect username or password");
  assert.equal((await call("GET", "/options", undefined, "Basic ")).status, 401, "SillyTavern with no auth set");
  assert.equal((await fetch(`${server.url}/predictions/x`, { headers: { authorization: basic(AUTH) } })).status, 401);
  const missing = await call("GET", "/no-such-thing", undefined, `Bearer ${TOKEN}`);
  assert.deepEqual([missing.status, missing.body], [404, { detail: "Not Found" }]);
});

test("Open WebUI: verify and list models, read and set the model (posting the options back whole), txt2img", async () => {
  const options = (await call("GET", "/options")).body;
  assert.equal(options.sd_model_checkpoint, "kandinsky-2.1");
  const models = (await call("GET", "/sd-models")).body;
  assert.deepEqual(models.map((m: { title: string; model_name: string }) => [m.title, m.model_name]), [["kandinsky-2.1", "kandinsky-2.1"]]);
  assert.equal((await call("POST", "/options", { ...options, sd_model_checkpoint: models[0].title })).status, 200);
  const refused = await call("POST", "/options", { sd_model_checkpoint: "v1-5-pruned.safetensors" });
  assert.equal(refused.status, 422);
  assert.deepEqual(refused.body.detail[0].loc, ["body", "sd_model_checkpoint"]);

  // image_generations: prompt, batch_size = n, width, height, steps, negative_prompt, and the admin's extra params.
  const r = await call("POST", "/txt2img", { prompt: "a lighthouse", batch_size: 2, width: 128, height: 128, steps: 2, negative_prompt: "blurry", num_steps_prior: 2, seed: 42 });
  assert.equal(r.status, 200, JSON.stringify(r.body).slice(0, 300));
  assert.equal(r.body.images.length, 2);
  assert.equal(await sizeOf(r.body.images[1]), "png 128x128");
  const info = JSON.parse(r.body.info);
  assert.equal(info.seed, 42);
  assert.deepEqual(info.all_seeds, [42, 42]);
  assert.equal(info.prompt, "a lighthouse");
  assert.equal(info.negative_prompt, "blurry");
  assert.match(info.infotexts[0], /^a lighthouse\nNegative prompt: blurry\nSteps: 2, Sampler: DDIM, CFG scale: 4, Seed: 42, Size: 128x128, Model: kandinsky-2.1/);
  assert.equal(r.body.parameters.batch_size, 2);
  assert.equal(r.body.parameters.sampler_name, "DDIM");
});

test("SillyTavern: ping, the lists it reads, set-model then wait on progress, txt2img with its whole body", async () => {
  assert.equal((await call("GET", "/options")).status, 200);
  assert.equal((await call("GET", "/upscalers")).body[0].name, "None");
  assert.deepEqual((await call("GET", "/latent-upscale-modes")).body, []);
  assert.deepEqual((await call("GET", "/sd-vae")).body, []);
  const samplers = (await call("GET", "/samplers")).body;
  assert.deepEqual(samplers.map((s: { name: string }) => s.name), ["DDIM", "DDPM", "DPM++ 2M"]);
  assert.ok(samplers[2].aliases.includes("dpmpp_2m"));
  assert.deepEqual((await call("GET", "/schedulers")).body.map((s: { name: string }) => s.name), ["automatic"]);
  assert.equal((await call("POST", "/options", { sd_model_checkpoint: "kandinsky-2.1" })).status, 200);
  const idle = (await call("GET", "/progress")).body;
  assert.deepEqual([idle.progress, idle.state.job_count], [0, 0], "set-model's wait loop ends at once");

  // generateAutoImage + the server's /api/sd/generate: the request body as it is, its url and auth included.
  const st = {
    url: server.url, auth: AUTH, prompt: "a knight", negative_prompt: "", sampler_name: "DPM++ 2M", scheduler: "normal",
    steps: 2, cfg_scale: 7, width: 128, height: 128, restore_faces: false, enable_hr: false, hr_upscaler: "None", hr_scale: 1,
    denoising_strength: 0.5, hr_second_pass_steps: 0, override_settings: { CLIP_stop_at_last_layers: 1 },
    override_settings_restore_afterwards: true, clip_skip: 1, save_images: true, send_images: true, do_not_save_grid: false,
    do_not_save_samples: false, num_steps_prior: 2,
  };
  const r = await call("POST", "/txt2img", st);
  assert.equal(r.status, 200, JSON.stringify(r.body).slice(0, 300));
  assert.equal(await sizeOf(r.body.images[0]), "png 128x128");
  const info = JSON.parse(r.body.info);
  assert.equal(info.sampler_name, "DPM++ 2M");
  assert.equal(info.cfg_scale, 7);
  assert.ok(Number.isInteger(info.seed) && info.seed >= 0, "seed -1 / absent: drawn and reported");
  assert.equal(r.body.parameters.enable_hr, false, "the request is echoed");
  assert.equal(info.denoising_strength, null, "txt2img's denoising_strength is the hires fix's");
});

test("progress while a job runs (steps, ETA, the latent preview), then interrupt: the waiting txt2img returns without images", async () => {
  const aborted = new AbortController();
  const running = call("POST", "/txt2img", { ...fast, prompt: "a storm", steps: 400 });
  const p = await waitFor("a decoder step", async () => {
    const s = (await call("GET", "/progress")).body;
    return s.state.sampling_step > 1 && s.current_image ? s : undefined;
  });
  assert.equal(p.state.job_count, 1);
  assert.equal(p.state.sampling_steps, 400);
  assert.ok(p.progress > 0 && p.progress < 1, String(p.progress));
  assert.ok(p.eta_relative > 0);
  assert.match(p.textinfo, /^decoder \d+\/400$/);
  assert.equal(await sizeOf(p.current_image), "png 16x16");
  assert.equal((await call("GET", "/progress?skip_current_image=true")).body.current_image, null);

  assert.deepEqual((await call("POST", "/interrupt")).body, {});
  const r = await running;
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.images, []);
  const after = (await call("GET", "/progress")).body;
  assert.deepEqual([after.progress, after.state.job_count], [0, 0]);

  // SillyTavern's proxy aborts its request when its own client goes: the job stops with it.
  const gone = call("POST", "/txt2img", { ...fast, prompt: "a storm", steps: 400 }, basic(AUTH), aborted.signal);
  gone.catch(() => {});
  const { job } = await waitFor("the second job", async () => {
    const s = (await call("GET", "/progress")).body.state;
    return s.sampling_step > 0 ? s : undefined;
  });
  aborted.abort();
  const prediction = async () => (await (await fetch(`${server.url}/predictions/${job}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { status: string };
  await waitFor("the job to be cancelled", async () => (await prediction()).status === "canceled" || undefined);
});

test("n_iter: batches one after another, seeds one apart; skip drops the running batch only, interrupt the rest too", async () => {
  const r = await call("POST", "/txt2img", { ...fast, prompt: "a tree", n_iter: 2, seed: 100 });
  assert.equal(r.body.images.length, 2);
  assert.deepEqual(JSON.parse(r.body.info).all_seeds, [100, 101]);

  const skipping = call("POST", "/txt2img", { ...fast, prompt: "a tree", n_iter: 2, seed: 200, steps: 400 });
  await waitFor("the first batch", async () => (await call("GET", "/progress")).body.state.sampling_step > 0 || undefined);
  const first = (await call("GET", "/progress")).body.state;
  assert.deepEqual([first.job_count, first.job_no], [2, 0]);
  await call("POST", "/skip");
  await waitFor("the second batch", async () => (await call("GET", "/progress")).body.state.job_no === 1 || undefined);
  await call("POST", "/interrupt");
  const skipped = await skipping;
  assert.deepEqual(skipped.body.images, []);
  assert.deepEqual(JSON.parse(skipped.body.info).all_seeds, []);
});

test("img2img: init_images as bare base64 with denoising_strength; a mask (white = repaint) is inpainting, inverted on request", async () => {
  const image = (await sharp({ create: { width: 96, height: 80, channels: 3, background: "#336699" } }).png().toBuffer()).toString("base64");
  const mask = (await sharp({ create: { width: 96, height: 80, channels: 3, background: "#ffffff" } }).png().toBuffer()).toString("base64");
  const i2i = await call("POST", "/img2img", { ...fast, prompt: "autumn", init_images: [image], denoising_strength: 0.6, steps: "4" });
  assert.equal(i2i.status, 200, JSON.stringify(i2i.body).slice(0, 300));
  assert.equal(await sizeOf(i2i.body.images[0]), "png 128x128");
  assert.equal(JSON.parse(i2i.body.info).denoising_strength, 0.6);
  assert.equal(i2i.body.parameters.init_images, null, "not echoed without include_init_images");
  assert.equal(i2i.body.parameters.steps, 4, "numbers in strings are numbers, as pydantic takes them");

  const inpaint = await call("POST", "/img2img", { ...fast, prompt: "a hat", init_images: [`data:image/png;base64,${image}`], mask, inpainting_mask_invert: 1 });
  assert.equal(inpaint.status, 200, JSON.stringify(inpaint.body).slice(0, 300));
  assert.equal(JSON.parse(inpaint.body.info).is_using_inpainting_conditioning, true);
});

test("invalid input: FastAPI's 422 naming the A1111 field", async () => {
  const cases: [object, string][] = [
    [{ prompt: "x", steps: "many" }, "steps"],
    [{ prompt: "x", width: 5000 }, "width"],
    [{ prompt: "x", cfg_scale: -1 }, "cfg_scale"],
    [{ prompt: "x", sampler_name: "Euler a" }, "sampler_name"],
    [{ prompt: "x", seed: -5 }, "seed"],
    [{ prompt: "" }, "prompt"],
  ];
  for (const [body, field] of cases) {
    const r = await call("POST", "/txt2img", { ...fast, ...body });
    assert.equal(r.status, 422, JSON.stringify(body));
    assert.deepEqual(r.body.detail[0].loc, ["body", field], JSON.stringify(r.body));
    assert.equal(typeof r.body.detail[0].msg, "string");
  }
  const noImage = await call("POST", "/img2img", { ...fast, prompt: "x" });
  assert.deepEqual(noImage.body.detail[0].loc, ["body", "init_images"]);
  const badImage = await call("POST", "/img2img", { ...fast, prompt: "x", init_images: ["bm90IGFuIGltYWdl"] });
  assert.deepEqual([badImage.status, badImage.body.detail[0].loc], [422, ["body", "init_images"]]);
});
