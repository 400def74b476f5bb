// The built `kandinsky` command run as a child process on the tiny random-weight models: local folders, repo ids
// through the fake hub into an empty cache, offline from that cache and from a cache laid out by Python.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import sharp from "sharp";
import { startHubServer, writePythonCache, type HubServer } from "./hub-server.js";
import { imageInfo, runCli, startServe, succeeded, type Run } from "./cli-helpers.js";
import { fixture } from "./fixtures.js";

const FIXTURES = fixture("tiny-a");
const PRIOR = "kandinsky-community/kandinsky-2-1-prior";
const DECODER = "kandinsky-community/kandinsky-2-1";
const LOCAL = ["--prior", join(FIXTURES, "prior"), "--decoder", join(FIXTURES, "decoder")];
const TINY = ["--width", "128", "--height", "64", "--steps", "4", "--prior-steps", "3"];

let work: string;
let baseline: Buffer; // generate "a red cat" --seed 1 with TINY settings, from the local folders

before(async () => {
  work = await mkdtemp(join(tmpdir(), "kandinsky-cli-"));
});
after(() => rm(work, { recursive: true, force: true }));

/** The CLI in `work`, with no Hugging Face settings but `env` (by default an empty cache and a closed hub port). */
const kandinsky = (args: string[], env: Record<string, string> = {}): Promise<Run> => runCli(work, args, env);

test("generate with local folders writes the requested PNG, seed and timing shown", async () => {
  const r = await kandinsky(["generate", "a red cat", ...LOCAL, ...TINY, "--seed", "1", "-o", "out.png"]);
  succeeded(r);
  assert.equal(r.stdout, "seed 1\nwrote out.png (128x64)\n");
  assert.match(r.stderr, /^prior steps {2}100% {2}3\/3 steps/m);
  assert.match(r.stderr, /^decoder steps {2}100% {2}4\/4 steps/m);
  assert.match(r.stderr, /^loaded decoder unet in [\d.]+ s$/m);
  assert.match(r.stderr, /^time: .*decoder [\d.]+ s, image decode [\d.]+ s; total [\d.]+ s$/m);
  assert.deepEqual(await imageInfo(join(work, "out.png")), ["png", 128, 64]);
  baseline = await readFile(join(work, "out.png"));
});

test("the default repo ids download into an empty cache, then work offline: the same bytes each run", async () => {
  const cache = join(work, "hub-cache");
  const hub: HubServer = await startHubServer({ [PRIOR]: { dir: join(FIXTURES, "prior") }, [DECODER]: { dir: join(FIXTURES, "decoder") } });
  let r: Run;
  try {
    r = await kandinsky(["generate", "a red cat", ...TINY, "--seed", "1", "-o", "hub.png"], { HF_ENDPOINT: hub.url, HF_HUB_CACHE: cache });
  } finally {
    await hub.close();
  }
  succeeded(r);
  assert.match(r.stderr, new RegExp(`^download ${PRIOR} {2}100%`, "m"));
  assert.match(r.stderr, /^time: download [\d.]+ s, /m);
  assert.deepEqual(await readFile(join(work, "hub.png")), baseline);

  // The hub is gone: its address refuses connections, so only the cache can answer.
  r = await kandinsky(["generate", "a red cat", ...TINY, "--seed", "1", "-o", "offline.png"], { HF_ENDPOINT: hub.url, HF_HUB_CACHE: cache, HF_HUB_OFFLINE: "1" });
  succeeded(r);
  assert.doesNotMatch(r.stderr, /download/);
  assert.deepEqual(await readFile(join(work, "offline.png")), baseline);
});

test("a cache laid out by Python's huggingface_hub is used offline", async () => {
  const cache = join(work, "python-cache");
  for (const [id, dir] of [[PRIOR, "prior"], [DECODER, "decoder"]]) {
    await writePythonCache(cache, id, join(FIXTURES, dir), createHash("sha1").update(id).digest("hex"));
  }
  const r = await kandinsky(["generate", "a red cat", ...TINY, "--seed", "1", "-o", "python.png", "--offline"], { HF_HUB_CACHE: cache });
  succeeded(r);
  assert.deepEqual(await readFile(join(work, "python.png")), baseline);
});

test("img2img, inpaint and mix each write an image of the requested size", async () => {
  const input = join(work, "out.png");
  const mask = join(work, "mask.png");
  const left = Buffer.alloc(128 * 64, 0).map((_, i) => (i % 128 < 64 ? 255 : 0));
  await sharp(left, { raw: { width: 128, height: 64, channels: 1 } }).png().toFile(mask);
  const steps = ["--steps", "3", "--prior-steps", "2", "--seed", "3"];

  const img2img = await kandinsky(["img2img", input, "a blue dog", ...LOCAL, ...steps, "--width", "96", "--height", "64", "--strength", "0.7", "-o", "i2i.webp"]);
  succeeded(img2img);
  assert.deepEqual(await imageInfo(join(work, "i2i.webp")), ["webp", 96, 64]);

  const inpaint = await kandinsky(["inpaint", input, "a hat", "--mask", mask, "--prior", join(FIXTURES, "prior"),
                                   "--inpaint", join(FIXTURES, "inpaint"), ...steps, "--width", "64", "--height", "72", "-o", "inpaint.png"]);
  succeeded(inpaint);
  assert.deepEqual(await imageInfo(join(work, "inpaint.png")), ["png", 64, 72]);

  // No --seed and no --output: a random seed, printed, names the file.
  const mix = await kandinsky(["mix", "--text", "a cat", "--weight", "0.3", "--image", input, "--weight", "0.7", ...LOCAL,
                               "--steps", "3", "--prior-steps", "2", "--width", "80", "--height", "64", "--format", "jpeg"]);
  succeeded(mix);
  const seed = /^seed (\d+)$/m.exec(mix.stdout)?.[1];
  assert.ok(seed, mix.stdout);
  assert.deepEqual(await imageInfo(join(work, `mix-${seed}.jpg`)), ["jpeg", 80, 64]);
});

test("--invert-mask: a mask whose black is to be repainted gives what the inverted image of that mask gives", async () => {
  // Image and masks at the output size, so that nothing resizes them and the two masks are exact inverses.
  const [w, h] = [64, 64];
  await sharp({ create: { width: w, height: h, channels: 3, background: "#3060a0" } }).png().toFile(join(work, "blue.png"));
  const disk = Buffer.alloc(w * h).map((_, i) => ((i % w - 24) ** 2 + (Math.floor(i / w) - 36) ** 2 < 300 ? 255 : 0));
  const gray = { raw: { width: w, height: h, channels: 1 as const } };
  await sharp(disk, gray).png().toFile(join(work, "disk.png"));
  await sharp(disk.map((v) => 255 - v), gray).png().toFile(join(work, "not-disk.png"));
  const inpaint = (mask: string, out: string, ...flags: string[]) => kandinsky(["inpaint", "blue.png", "a hat", "--mask", mask, ...flags,
    "--prior", join(FIXTURES, "prior"), "--inpaint", join(FIXTURES, "inpaint"), "--steps", "3", "--prior-steps", "2", "--seed", "5",
    "--width", String(w), "--height", String(h), "-o", out]);
  const runs = await Promise.all([inpaint("disk.png", "inverted.png", "--invert-mask"), inpaint("not-disk.png", "not-disk-out.png"), inpaint("disk.png", "disk-out.png")]);
  for (const r of runs) succeeded(r);
  const [inverted, reference, plain] = await Promise.all(["inverted.png", "not-disk-out.png", "disk-out.png"].map((f) => readFile(join(work, f))));
  assert.deepEqual(inverted, reference);
  assert.notDeepEqual(inverted, plain, "the flag changes which part is repainted");
});

test("user mistakes exit non-zero with one line naming the problem, no stack trace", async () => {
  await writeFile(join(work, "not-an-image.png"), "text");
  const cases: [string[], Record<string, string>, RegExp][] = [
    [["generate", "x", "--width", "0"], {}, /^kandinsky: --width must be an integer from 16 to 4096, got 0$/],
    [["generate", "x", "--scheduler", "euler"], {}, /^kandinsky: option '--scheduler <name>' argument 'euler' is invalid\. Allowed choices are ddim, ddpm, dpmpp_2m\.$/],
    [["img2img", "missing.png", "x", ...LOCAL], {}, /^kandinsky: image file not found: missing\.png$/],
    [["img2img", "not-an-image.png", "x", ...LOCAL], {}, /^kandinsky: cannot read image not-an-image\.png: /],
    [["generate", "x", "--prior", join(FIXTURES, "prior"), "--decoder", join(work, "no-such-model")], {}, /^kandinsky: model \/.*no-such-model is neither an existing folder nor a Hugging Face repo id/],
    [["generate", "x", "--prior", join(FIXTURES, "decoder")], {},
      /^kandinsky: --prior \S+\/decoder is a text-to-image decoder \(UNet with 4 input channels: the latents\); expected a prior \(PriorTransformer \+ CLIP text and image encoders\)$/],
    [["inpaint", "out.png", "x", "--mask", "mask.png", "--prior", join(FIXTURES, "prior"), "--inpaint", join(FIXTURES, "decoder")], {},
      /^kandinsky: --inpaint \S+\/decoder is a text-to-image decoder \(UNet with 4 input channels: the latents\); expected an inpainting decoder \(UNet taking latents \+ masked-image latents \+ mask\)$/],
    [["generate", "x", "--prior", join(FIXTURES, "prior"), "--decoder", join(FIXTURES, "inpaint")], {},
      /^kandinsky: --decoder \S+\/inpaint is an inpainting decoder \(UNet with 9 input channels: 4 latents, 4 masked-image latents, mask\); expected a text-to-image decoder \(UNet taking the MoVQ's latents\)$/],
    [["generate", "x", "--prior", join(FIXTURES, "prior", "prior")], {}, /^kandinsky: model folder \S+ has no model_index\.json: not a diffusers pipeline folder$/],
    [["generate", "x"], { HF_HUB_OFFLINE: "1" }, new RegExp(`^kandinsky: model ${PRIOR} is not in the Hugging Face cache at .* and HF_HUB_OFFLINE is set$`)],
  ];
  const runs = await Promise.all(cases.map(([args, env]) => kandinsky(args, env)));
  for (const [i, r] of runs.entries()) {
    const [args, , message] = cases[i];
    assert.equal(r.code, 1, `${args.join(" ")}: exit ${r.code}`);
    assert.match(r.stderr, /^[^\n]*\n$/, `${args.join(" ")}: one line expected:\n${r.stderr}`);
    assert.match(r.stderr.trimEnd(), message);
  }
});

test("serve resolves the models at startup, reports READY and stops on SIGTERM", async () => {
  const server = await startServe(work, ["--data-dir", join(work, "data"), ...LOCAL, "--inpaint", join(FIXTURES, "inpaint")], { HF_HUB_OFFLINE: "1" });
  try {
    const health = (await (await fetch(`${server.url}/health-check`)).json()) as { status: string };
    assert.equal(health.status, "READY");
  } finally {
    assert.equal(await server.stop(), 0, server.stderr());
  }
});
