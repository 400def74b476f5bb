// The OpenAI images API of `kandinsky serve`, driven by the official `openai` client, over the tiny models.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import OpenAI, { APIError, toFile } from "openai";
import sharp from "sharp";
import { client, serve, small, waitFor, type Server } from "./server-helpers.js";

const TOKEN = "s3cret";
let dataDir: string;
let server: Server;
let openai: OpenAI;
let api: ReturnType<typeof client>;

/** Kandinsky's options as extra body fields, small enough for the tiny models. */
const fast = { num_inference_steps: small.num_inference_steps, num_steps_prior: small.num_steps_prior };
const openaiClient = (url: string, apiKey = TOKEN) => new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0 });
/** Parameters with what the client's types do not list (Kandinsky's extra fields, sizes OpenAI's models lack). */
const params = <T>(p: Record<string, unknown>) => p as T;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "kandinsky-openai-"));
  // --max-size 128: edits fit larger images into it.
  server = await serve({ dataDir, token: TOKEN, queueSize: 0, maxSize: 128 });
  openai = openaiClient(server.url);
  api = client(server.url, TOKEN);
});

after(async () => {
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function describe(b64OrBytes: string | Buffer) {
  const m = await sharp(typeof b64OrBytes === "string" ? Buffer.from(b64OrBytes, "base64") : b64OrBytes).metadata();
  return `${m.format} ${m.width}x${m.height}`;
}

/** The prediction behind an output URL (its file is named after the prediction). */
async function predictionOf(url: string) {
  const id = new URL(url).pathname.match(/^\/outputs\/(.+)-\d+\.\w+$/)![1];
  return (await api("GET", `/predictions/${id}`)).body;
}

const png = (width: number, height: number, channels: 3 | 4, pixel: (x: number, y: number) => number[]) => {
  const raw = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) raw.set(pixel(x, y), (y * width + x) * channels);
  return sharp(raw, { raw: { width, height, channels } }).png().toBuffer();
};

test("models.list and models.retrieve", async () => {
  const models = [];
  for await (const m of openai.models.list()) models.push(m);
  assert.deepEqual(models.map((m) => [m.id, m.object]), [["kandinsky-2.1", "model"]]);
  assert.equal((await openai.models.retrieve("kandinsky-2.1")).id, "kandinsky-2.1");
  await assert.rejects(openai.models.retrieve("dall-e-3"), (e: APIError) => e.status === 404);
});

test("images.generate: n=2 as b64_json; as url, served by the server and still there after a restart", async () => {
  // No size: the default (512x512), fitted into this server's --max-size 128.
  const b64 = await openai.images.generate(params<OpenAI.ImageGenerateParamsNonStreaming>({ prompt: "a red cat", n: 2, response_format: "b64_json", ...fast, seed: 11 }));
  assert.equal(b64.data!.length, 2);
  for (const d of b64.data!) {
    assert.equal(d.url, undefined);
    assert.equal(await describe(d.b64_json!), "png 128x128");
  }
  assert.ok(b64.created > 0);

  const byUrl = await openai.images.generate(params<OpenAI.ImageGenerateParamsNonStreaming>({ prompt: "a red cat", size: "128x128", response_format: "url", output_format: "webp", ...fast, seed: 11 }));
  const url = byUrl.data![0].url!;
  assert.equal(byUrl.data![0].b64_json, undefined);
  assert.match(url, new RegExp(`^${server.url}/outputs/\\w+-0\\.webp\\?sig=`));
  // The URL opens the file without the token (OpenAI's URLs are bearer-less); without its signature it does not.
  const fetched = await fetch(url);
  assert.equal(fetched.headers.get("content-type"), "image/webp");
  assert.equal(await describe(Buffer.from(await fetched.arrayBuffer())), "webp 128x128");
  assert.equal((await fetch(url.replace(/\?sig=.*/, ""))).status, 401);
  assert.equal((await fetch(url.replace(/sig=./, "sig=x"))).status, 401);
  const p = await predictionOf(url);
  assert.equal(p.input.seed, 11);
  assert.equal(p.input.num_inference_steps, 2);

  // A restart on the same port: the URL still works.
  const port = Number(new URL(server.url).port);
  await server.close();
  server = await serve({ dataDir, token: TOKEN, queueSize: 0, maxSize: 128, port });
  assert.equal((await fetch(url)).status, 200);
});

test("images.generate as LibreChat's DALL·E 3 tool calls it (model, quality, style, no response_format): both url and b64_json", async () => {
  const r = await openai.images.generate(params<OpenAI.ImageGenerateParamsNonStreaming>({ model: "dall-e-3", prompt: "a castle", quality: "hd", style: "vivid", size: "128x128", n: 1, user: "u", ...fast }));
  assert.equal(r.data!.length, 1);
  assert.ok(r.data![0].url && r.data![0].b64_json);
  assert.equal(r.size, "128x128");
});

test("images.edit: an alpha mask is inpainting (transparent = repaint); the image's own alpha too; an opaque image is img2img", async () => {
  const image = await png(192, 160, 3, (x) => [x, 90, 160]);
  const mask = await png(192, 160, 4, (x) => [0, 0, 0, x < 96 ? 0 : 255]);
  const edited = await openai.images.edit({
    image: await toFile(image, "image.png", { type: "image/png" }), mask: await toFile(mask, "mask.png", { type: "image/png" }),
    prompt: "a hat", response_format: "url", ...fast,
  } as OpenAI.ImageEditParamsNonStreaming);
  const p = await predictionOf(edited.data![0].url!);
  assert.equal(p.status, "succeeded", p.error);
  assert.equal(p.input.task, "inpaint");
  // Left half repaint (white), right half kept, in our convention.
  const ours = await sharp(Buffer.from(p.input.mask.replace(/^data:[^,]*,/, ""), "base64")).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([ours.data[0], ours.data[191 * ours.info.channels]], [255, 0]);
  // Sized from the image: 192x160 scaled into --max-size 128, aspect kept.
  assert.equal(await describe(Buffer.from(await (await fetch(edited.data![0].url!)).arrayBuffer())), "png 128x107");

  const holed = await png(96, 80, 4, (x, y) => [200, 100, 50, x < 10 && y < 10 ? 0 : 255]);
  const own = await openai.images.edit(params<OpenAI.ImageEditParamsNonStreaming>({ image: [await toFile(holed, "a.png", { type: "image/png" })], prompt: "a bird", size: "128x128", response_format: "url", ...fast }));
  assert.equal((await predictionOf(own.data![0].url!)).input.task, "inpaint", "image[] with transparent pixels");

  const opaque = await openai.images.edit(params<OpenAI.ImageEditParamsNonStreaming>({ image: await toFile(image, "b.png", { type: "image/png" }), prompt: "winter", n: 2, size: "128x128", response_format: "b64_json", strength: 0.5, ...fast }));
  assert.equal(opaque.data!.length, 2);
  assert.equal(await describe(opaque.data![1].b64_json!), "png 128x128");
});

test("images.createVariation: a mix of the image; n variations are n predictions, their seeds one apart", async () => {
  const image = await png(64, 64, 3, (x, y) => [x * 4, y * 4, 128]);
  const one = await openai.images.createVariation(params<OpenAI.ImageCreateVariationParams>({ image: await toFile(image, "v.png", { type: "image/png" }), size: "128x128", response_format: "url", ...fast }));
  const p = await predictionOf(one.data![0].url!);
  assert.equal(p.input.task, "mix");
  assert.equal(p.input.mix_images.length, 1);
  const two = await openai.images.createVariation(params<OpenAI.ImageCreateVariationParams>({ image: await toFile(image, "v.png", { type: "image/png" }), n: 2, size: "128x128", response_format: "url", seed: 40, ...fast }));
  const seeds = await Promise.all(two.data!.map(async (d) => (await predictionOf(d.url!)).metrics.seed));
  assert.deepEqual(seeds, [40, 41]);
});

test("errors in OpenAI's shape: 400 naming the param, 401, 404, 413, 429", async () => {
  const fails = async (call: Promise<unknown>, status: number, param: string | null, message: RegExp) => {
    const e = await call.then(() => assert.fail("no error"), (err: unknown) => err as APIError);
    assert.ok(e instanceof APIError, String(e));
    assert.equal(e.status, status, e.message);
    assert.equal(e.param ?? null, param);
    assert.match(e.message, message);
    assert.equal(typeof (e.error as { type: string }).type, "string");
  };
  await fails(openai.images.generate({ prompt: "x", size: "4096x4096" }), 400, "size", /size \(width\) must be <= 128/);
  await fails(openai.images.generate({ prompt: "x", size: "big" as "auto" }), 400, "size", /WIDTHxHEIGHT/);
  await fails(openai.images.generate({ prompt: "x", n: 9 }), 400, "n", /must be <= 4/);
  await fails(openai.images.generate(params<OpenAI.ImageGenerateParamsNonStreaming>({ prompt: "x", steps: 3 })), 400, "steps", /not a parameter/);
  await fails(openai.images.generate(params<OpenAI.ImageGenerateParamsNonStreaming>({ prompt: "x", scheduler: "euler" })), 400, "scheduler", /must be one of ddim/);
  await fails(openai.images.generate({ prompt: "" }), 400, "prompt", /required/);
  const opaque = await png(32, 32, 3, () => [1, 2, 3]);
  await fails(openai.images.edit({ image: await toFile(opaque, "i.png"), mask: await toFile(opaque, "m.png"), prompt: "x" }), 400, "mask", /alpha channel/);
  await fails(openai.images.edit({ image: await toFile(Buffer.from("not an image"), "i.png"), prompt: "x" }), 400, "image", /not an image/);
  await fails(openaiClient(server.url, "wrong").models.list(), 401, null, /Incorrect API key/);
  await fails(openai.get("/nope"), 404, null, /Invalid URL \(GET \/v1\/nope\)/);
  await fails(openai.images.createVariation({ image: await toFile(Buffer.alloc(17 * 2 ** 20), "big.png") }), 413, null, /larger than 16 MiB/);

  // The queue (size 0 here) is full while another prediction runs: 429, which the official clients retry.
  await api("POST", "/predictions", { id: "blocker", input: { ...small, num_inference_steps: 500 } }, { prefer: "respond-async" });
  await waitFor("the blocker to run", async () => (await api("GET", "/predictions/blocker")).body.status === "processing" || undefined);
  await fails(openai.images.generate(params<OpenAI.ImageGenerateParamsNonStreaming>({ prompt: "x", size: "128x128", ...fast })), 429, null, /queue is full/);
  await api("POST", "/predictions/blocker/cancel");
  await waitFor("the blocker to stop", async () => (await api("GET", "/predictions/blocker")).body.status === "canceled" || undefined);
});
