// Roles are recognised by what a folder holds, not by model_index.json's _class_name; a request is checked against
// its folders before any network runs.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Kandinsky, RequestError } from "../src/pipelines/kandinsky.js";
import { checkRole, identifyFolder, RoleError } from "../src/pipelines/roles.js";
import { readModelIndex } from "../src/weights/config.js";
import { FIXTURES } from "./fixtures.js";

const REAL = join(FIXTURES, "real-layout");
const TINY = join(FIXTURES, "tiny-a");

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), "roles-"));
});
after(() => rm(work, { recursive: true, force: true }));

/** A pipeline folder of JSON files: path → content. */
async function folder(name: string, files: Record<string, unknown>): Promise<string> {
  const root = join(work, name);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(root, path, ".."), { recursive: true });
    await writeFile(join(root, path), JSON.stringify(content));
  }
  return root;
}

test("the real repos' folders are recognised by their components and UNet input, whatever _class_name says", () => {
  assert.equal(readModelIndex(join(REAL, "inpaint"))._class_name, "KandinskyPipeline");
  for (const set of [REAL, TINY]) {
    assert.deepEqual(identifyFolder(join(set, "prior")), { role: "prior", found: "a prior (PriorTransformer + CLIP text and image encoders)" });
    assert.deepEqual(identifyFolder(join(set, "decoder")), { role: "decoder", found: "a text-to-image decoder (UNet with 4 input channels: the latents)" });
    assert.deepEqual(identifyFolder(join(set, "inpaint")), {
      role: "inpaint", found: "an inpainting decoder (UNet with 9 input channels: 4 latents, 4 masked-image latents, mask)",
    });
  }
  assert.doesNotThrow(() => checkRole("inpaint", join(REAL, "inpaint")));
  assert.throws(() => checkRole("decoder", join(REAL, "inpaint"), "--decoder x"), {
    message: "--decoder x is an inpainting decoder (UNet with 9 input channels: 4 latents, 4 masked-image latents, mask); expected a text-to-image decoder (UNet taking the MoVQ's latents)",
  });
  assert.throws(() => checkRole("prior", join(REAL, "decoder")), RoleError);
});

test("other folders: what was found, in one line", async () => {
  assert.equal(identifyFolder(join(REAL, "prior", "prior")).found, "not a diffusers pipeline (no readable model_index.json)");
  const v22 = await folder("v22", {
    "model_index.json": { _class_name: "KandinskyV22Pipeline", unet: ["diffusers", "UNet2DConditionModel"], scheduler: ["diffusers", "DDPMScheduler"], movq: ["diffusers", "VQModel"] },
  });
  assert.throws(() => checkRole("decoder", v22, "--decoder v22"), {
    message: "--decoder v22 is a KandinskyV22Pipeline (unet: UNet2DConditionModel, scheduler: DDPMScheduler, movq: VQModel), not a Kandinsky 2.1 prior or decoder; "
      + "expected a text-to-image decoder (UNet taking the MoVQ's latents)",
  });
  // The channel counts come from the configs with the constructors' defaults: in_channels 4, latent_channels 3.
  const index = { _class_name: "KandinskyPipeline", text_encoder: ["kandinsky", "MultilingualCLIP"], unet: ["diffusers", "UNet2DConditionModel"], movq: ["diffusers", "VQModel"] };
  const minimal = await folder("minimal", { "model_index.json": index, "unet/config.json": {}, "movq/config.json": {} });
  assert.deepEqual(identifyFolder(minimal), { found: "a decoder whose UNet takes 4 input channels, neither the MoVQ's 3 latent channels nor 7 for inpainting" });
  const seven = await folder("seven", { "model_index.json": index, "unet/config.json": { in_channels: 7 }, "movq/config.json": {} });
  assert.equal(identifyFolder(seven).role, "inpaint");
});

test("the library checks a request's folders and resolves its scheduler before any network runs", async () => {
  // An inpainting folder without any scheduler config: ddpm has nothing to start from.
  const noScheduler = join(work, "no-scheduler");
  await mkdir(noScheduler);
  for (const entry of await readdir(join(REAL, "inpaint"))) {
    if (entry !== "scheduler") await symlink(join(REAL, "inpaint", entry), join(noScheduler, entry));
  }
  const loads: string[] = [];
  const k = new Kandinsky({ prior: join(REAL, "prior"), decoder: join(REAL, "inpaint"), inpaint: noScheduler }, { provider: "cpu", onLoad: (c) => loads.push(c) });
  const progress: string[] = [];
  const image = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3) };
  const mask = { width: 64, height: 64, data: new Uint8Array(64 * 64) };
  try {
    await assert.rejects(k.run({ prompt: "x", width: 64, height: 64, steps: 2, priorSteps: 2 }, { progress: (e) => progress.push(e.stage) }),
      (e: Error) => e instanceof RequestError && /^\S+\/inpaint is an inpainting decoder .*; expected a text-to-image decoder/.test(e.message));
    await assert.rejects(k.run({ task: "inpaint", prompt: "x", image, mask, width: 64, height: 64, steps: 2, priorSteps: 2, scheduler: "ddpm" }),
      (e: Error) => e instanceof RequestError && new RegExp(`^scheduler ddpm: ${noScheduler}/scheduler/scheduler_config\\.json: file not found$`).test(e.message));
    assert.deepEqual([loads, progress], [[], []]);
  } finally {
    await k.close();
  }
});
