// A component's weights in the Hugging Face layout: `model.safetensors` (transformers) or
// `diffusion_pytorch_model.safetensors` (diffusers), the `fp16` variant names, or a sharded
// `*.safetensors.index.json`. Only the safetensors headers are read; data stays in the files.
import { existsSync, readdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { SafetensorsFile } from "./safetensors.js";
import type { TensorInfo } from "./tensor-file.js";
import { readJson } from "./config.js";

export class WeightError extends Error {}

const BASES = ["diffusion_pytorch_model", "model"];

/** Finds the weight files of a component folder; `variant` ("fp16") is preferred when present. */
export function findWeightFiles(dir: string, variant?: string): string[] {
  const names = existsSync(dir) ? readdirSync(dir) : [];
  const candidates = (v?: string) =>
    BASES.flatMap((b) => {
      const stem = v ? `${b}.${v}` : b;
      return [`${stem}.safetensors`, `${stem}.safetensors.index.json`];
    });
  for (const v of variant ? [variant, undefined] : [undefined, "fp16"]) {
    for (const c of candidates(v)) {
      if (!names.includes(c)) continue;
      if (!c.endsWith(".index.json")) return [join(dir, c)];
      const index = readJson<{ weight_map?: Record<string, string> }>(join(dir, c));
      if (!index.weight_map) throw new WeightError(`${join(dir, c)}: no "weight_map"`);
      return [...new Set(Object.values(index.weight_map))].map((f) => join(dir, f));
    }
  }
  throw new WeightError(`${dir}: no weights found (expected ${candidates(variant).join(" or ")})`);
}

export class Checkpoint {
  readonly tensors = new Map<string, TensorInfo>();
  readonly files: SafetensorsFile[];
  /** The real folder of the data files (symlinks resolved): the external-data folder for ONNX Runtime. */
  readonly folder: string;

  constructor(readonly dir: string, variant?: string) {
    this.files = findWeightFiles(dir, variant).map((f) => new SafetensorsFile(f));
    const folders = new Set(this.files.map((f) => dirname(f.path)));
    if (folders.size !== 1) throw new WeightError(`${dir}: weight files resolve to several folders (${[...folders].join(", ")})`);
    this.folder = [...folders][0];
    for (const f of this.files) for (const [k, t] of f.tensors) this.tensors.set(k, t);
  }

  get(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new WeightError(`${this.dir}: missing tensor "${name}"`);
    return t;
  }
}
