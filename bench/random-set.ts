// Writes a full-size model set with random weights, laid out like the Hugging Face repos: every file of the
// configs folder (model_index.json, component configs, tokenizer and scheduler configs) copied, and for every
// component we have a network for, a safetensors file with exactly the tensors our loaders read
// (model.safetensors for transformers components, diffusion_pytorch_model.safetensors for diffusers ones;
// `.fp16.safetensors` with --fp16). Files already there with the expected size are kept, so the set is written
// once and reused. Tokenizer vocabularies are not written (the configs folder has none): feed token ids.
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { readConfig } from "../src/weights/config.js";
import { fixture } from "../test/fixtures.js";
import { hasNetwork, isTransformers, weightShapes } from "./weight-shapes.js";
import { randomSafetensorsSize, writeRandomSafetensors, type FloatDType } from "./random-safetensors.js";

export const DEFAULT_CONFIGS = fixture("full-configs");
export const DEFAULT_OUT = join(homedir(), ".cache", "kandinsky-ts", "random-full");

export interface RandomModelOptions {
  configs?: string;
  fp16?: boolean;
  /** Component folders to write weights for ("decoder/unet"); default all. Configs are always copied. */
  only?: string[];
  log?: (line: string) => void;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

/** Writes what is missing of the set under `out`; returns the component folders that have weights. */
export function ensureRandomModels(out: string, o: RandomModelOptions = {}): string[] {
  const configs = o.configs ?? DEFAULT_CONFIGS;
  if (!existsSync(configs)) throw new Error(`no configs folder at ${configs}`);
  const dtype: FloatDType = o.fp16 ? "F16" : "F32";
  const written: string[] = [];
  for (const src of walk(configs)) {
    const rel = relative(configs, src);
    const dst = join(out, rel);
    if (!existsSync(dst)) {
      mkdirSync(dirname(dst), { recursive: true });
      copyFileSync(src, dst);
      chmodSync(dst, 0o644);
    }
    if (basename(rel) !== "config.json" || rel.split("/").length !== 3) continue;
    const component = rel.split("/").slice(0, 2).join("/");
    const raw = readConfig(join(configs, component));
    if (!hasNetwork(raw) || (o.only && !o.only.includes(component))) continue;
    const base = isTransformers(raw) ? "model" : "diffusion_pytorch_model";
    const file = join(out, component, `${base}${o.fp16 ? ".fp16" : ""}.safetensors`);
    const tensors = [...weightShapes(raw)];
    const size = randomSafetensorsSize(tensors, dtype);
    written.push(component);
    if (existsSync(file) && statSync(file).size === size) continue;
    const t0 = performance.now();
    writeRandomSafetensors(file, tensors, dtype);
    o.log?.(`wrote ${file} (${tensors.length} tensors, ${(size / 1e9).toFixed(2)} GB, ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  if (o.only) {
    const missing = o.only.filter((c) => !written.includes(c));
    if (missing.length) throw new Error(`no such component with a network in ${configs}: ${missing.join(", ")}`);
  }
  return written;
}
