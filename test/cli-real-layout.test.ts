// The real repos' files as they are, end to end: a Hugging Face cache laid out by Python's huggingface_hub holding the
// real-layout folders (0.17-era minimal configs, an inpainting repo whose model_index.json says KandinskyPipeline and
// that has no ddpm_scheduler/, .bin twins of every weight) under the default repo ids, used offline by the built CLI
// and by `kandinsky serve`.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import sharp from "sharp";
import { ROLE_MODELS, ROLES } from "../src/pipelines/roles.js";
import { startHubServer, writePythonCache } from "./hub-server.js";
import { imageInfo, runCli, startServe, succeeded, type Run } from "./cli-helpers.js";
import { fixture } from "./fixtures.js";

const REAL = fixture("real-layout");
const SMALL = ["--width", "64", "--height", "64", "--steps", "3", "--prior-steps", "2", "--seed", "5"];

let work: string;
let offline: Record<string, string>; // HF_HOME holding the cache, HF_HUB_OFFLINE=1
const snapshots = new Map<string, string>();

before(async () => {
  work = await mkdtemp(join(tmpdir(), "kandinsky-real-"));
  const home = join(work, "hf-home");
  for (const role of ROLES) {
    const repo = ROLE_MODELS[role].repo;
    snapshots.set(repo, await writePythonCache(join(home, "hub"), repo, join(REAL, role), createHash("sha1").update(repo).digest("hex")));
  }
  offline = { HF_HOME: home, HF_HUB_OFFLINE: "1" };
  const half = Buffer.alloc(64 * 64, 0).map((_, i) => (i % 64 < 32 ? 255 : 0));
  await sharp(half, { raw: { width: 64, height: 64, channels: 1 } }).png().toFile(join(work, "mask.png"));
  await sharp({ create: { width: 80, height: 64, channels: 3, background: "#3060a0" } }).png().toFile(join(work, "photo.png"));
});
after(() => rm(work, { recursive: true, force: true }));

const kandinsky = (args: string[], env = offline): Promise<Run> => runCli(work, args, env);

test("generate, img2img and mix through the default repo ids", async () => {
  const generate = await kandinsky(["generate", "a red cat!", "--negative-prompt", "blurry", ...SMALL, "-o", "gen.png"]);
  succeeded(generate);
  assert.equal(generate.stdout, "seed 5\nwrote gen.png (64x64)\n");
  assert.deepEqual(await imageInfo(join(work, "gen.png")), ["png", 64, 64]);

  const img2img = await kandinsky(["img2img", "photo.png", "a blue dog", "--strength", "0.6", ...SMALL, "-o", "i2i.png"]);
  succeeded(img2img);
  assert.deepEqual(await imageInfo(join(work, "i2i.png")), ["png", 64, 64]);

  const mix = await kandinsky(["mix", "--text", "a cat", "--weight", "0.4", "--image", "photo.png", "--weight", "0.6", ...SMALL, "-o", "mix.png"]);
  succeeded(mix);
  assert.deepEqual(await imageInfo(join(work, "mix.png")), ["png", 64, 64]);
});

test("inpaint with ddim, and with ddpm from the text-to-image decoder's config (the inpainting repo has none)", async () => {
  const inpaint = (scheduler: string, out: string, env = offline) =>
    kandinsky(["inpaint", "photo.png", "a hat", "--mask", "mask.png", "--scheduler", scheduler, ...SMALL, "-o", out], env);
  const ddim = await inpaint("ddim", "ddim.png");
  succeeded(ddim);
  assert.doesNotMatch(ddim.stderr, /warning/);
  assert.deepEqual(await imageInfo(join(work, "ddim.png")), ["png", 64, 64]);

  const ddpm = await inpaint("ddpm", "ddpm.png");
  succeeded(ddpm);
  const inpaintDir = snapshots.get(ROLE_MODELS.inpaint.repo)!, decoderDir = snapshots.get(ROLE_MODELS.decoder.repo)!;
  assert.match(ddpm.stderr, new RegExp(`^kandinsky: warning: ${inpaintDir} has no ddpm_scheduler/: ddpm uses the text-to-image decoder's ${decoderDir}/ddpm_scheduler \\(same training betas\\)$`, "m"));
  assert.deepEqual(await imageInfo(join(work, "ddpm.png")), ["png", 64, 64]);
  assert.notDeepEqual(await readFile(join(work, "ddpm.png")), await readFile(join(work, "ddim.png")));

  // Without the text-to-image decoder in the cache: DDPM from the inpainting repo's own betas.
  const alone = join(work, "inpaint-only");
  await mkdir(join(alone, "hub"), { recursive: true });
  for (const role of ["prior", "inpaint"] as const) {
    await writePythonCache(join(alone, "hub"), ROLE_MODELS[role].repo, join(REAL, role), createHash("sha1").update(role).digest("hex"));
  }
  const own = await inpaint("ddpm", "ddpm-own.png", { HF_HOME: alone, HF_HUB_OFFLINE: "1" });
  succeeded(own);
  assert.match(own.stderr, /^kandinsky: warning: \S+ has no ddpm_scheduler\/: ddpm is DDPMScheduler\.from_config of \S+\/scheduler, its betas with variance_type fixed_small$/m);
  assert.deepEqual(await imageInfo(join(work, "ddpm-own.png")), ["png", 64, 64]);
});

test("download with no arguments resolves all three roles from the cache", async () => {
  const r = await kandinsky(["download"]);
  succeeded(r);
  assert.equal(r.stdout, ROLES.map((role) => `${ROLE_MODELS[role].repo}  ${snapshots.get(ROLE_MODELS[role].repo)}\n`).join(""));
});

test("serve: READY with all three roles, then predictions (inpaint with ddpm says which config in its logs)", async () => {
  const server = await startServe(work, ["--data-dir", join(work, "data")], offline);
  try {
    const health = (await (await fetch(`${server.url}/health-check`)).json()) as { status: string };
    assert.equal(health.status, "READY");
    const predict = async (input: Record<string, unknown>) => {
      const res = await fetch(`${server.url}/predictions`, {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ input: { width: 128, height: 128, num_inference_steps: 2, num_steps_prior: 2, seed: 3, ...input } }),
      });
      return (await res.json()) as { status: string; error: string | null; output: string[]; logs: string };
    };
    const text = await predict({ prompt: "a red cat" });
    assert.equal(text.status, "succeeded", text.error ?? "");
    assert.match(text.output[0]!, /^data:image\/png;base64,/);

    const dataUrl = async (file: string) => `data:image/png;base64,${(await readFile(join(work, file))).toString("base64")}`;
    const inpaint = await predict({ task: "inpaint", prompt: "a hat", image: await dataUrl("photo.png"), mask: await dataUrl("mask.png"), scheduler: "ddpm" });
    assert.equal(inpaint.status, "succeeded", inpaint.error ?? "");
    assert.match(inpaint.logs, /^warning: \S+ has no ddpm_scheduler\/: ddpm uses the text-to-image decoder's \S+\/ddpm_scheduler \(same training betas\)$/m);
  } finally {
    assert.equal(await server.stop(), 0, server.stderr());
  }
});

test("a decoder that ships only .bin weights is downloaded as such and gives the image its safetensors give", async () => {
  const decoder = ROLE_MODELS.decoder.repo;
  const safetensors = ["movq/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors", "unet/diffusion_pytorch_model.safetensors"];
  const hub = await startHubServer({ [decoder]: { dir: join(REAL, "decoder"), omit: safetensors } });
  let r: Run;
  try {
    r = await kandinsky(["generate", "a red cat!", "--negative-prompt", "blurry", ...SMALL, "--prior", join(REAL, "prior"), "-o", "bin.png"],
      { HF_HUB_CACHE: join(work, "bin-cache"), HF_ENDPOINT: hub.url });
  } finally {
    await hub.close();
  }
  succeeded(r);
  assert.ok(hub.count(decoder, "unet/diffusion_pytorch_model.bin") > 0);
  assert.deepEqual(await readFile(join(work, "bin.png")), await readFile(join(work, "gen.png")));
});

test("a repo of the wrong role fails in one line after its metadata, before any weight file is fetched", async () => {
  const hub = await startHubServer({ [ROLE_MODELS.decoder.repo]: { dir: join(REAL, "decoder") } });
  let r: Run;
  try {
    r = await kandinsky(["inpaint", "photo.png", "a hat", "--mask", "mask.png", "--inpaint", ROLE_MODELS.decoder.repo, "--prior", join(REAL, "prior")],
      { HF_HUB_CACHE: join(work, "empty-cache"), HF_ENDPOINT: hub.url });
  } finally {
    await hub.close();
  }
  assert.equal(r.code, 1, r.stderr);
  // The metadata's download bar, then the one line.
  assert.equal(r.stderr.split("\n").filter((l) => l.startsWith("kandinsky:")).join("\n") + "\n", `kandinsky: --inpaint ${ROLE_MODELS.decoder.repo} is a text-to-image decoder (UNet with 4 input channels: the latents); `
    + "expected an inpainting decoder (UNet taking latents + masked-image latents + mask)\n");
  const weights = hub.requests.filter((q) => q.file && /\.(safetensors|bin)$/.test(q.file));
  assert.deepEqual(weights, []);
  assert.ok(hub.requests.some((q) => q.file === "unet/config.json"));
});
