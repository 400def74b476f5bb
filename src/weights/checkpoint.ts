// A component's weights in the Hugging Face layout, as diffusers and transformers name them:
// `diffusion_pytorch_model` / `model` `.safetensors`, else the PyTorch `diffusion_pytorch_model` / `pytorch_model`
// `.bin`; a variant goes before the extension (`diffusion_pytorch_model.fp16.bin`, `model.safetensors.index.fp16.json`);
// a sharded checkpoint is an `*.index.json` whose `weight_map` names the shards. Only headers are read; data stays in the files.
import { existsSync, readdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { SafetensorsFile } from "./safetensors.js";
import { TorchBinFile } from "./torch-bin.js";
import type { TensorFile, TensorInfo } from "./tensor-file.js";
import { readJson } from "./config.js";

export class WeightError extends Error {}

interface WeightFormat {
  ext: string;
  /** diffusers' name, then transformers'. */
  bases: string[];
  open(path: string): TensorFile;
}

/** In order of preference: a `.bin` is read only when a folder has no safetensors weights. */
const FORMATS: WeightFormat[] = [
  { ext: "safetensors", bases: ["diffusion_pytorch_model", "model"], open: (p) => new SafetensorsFile(p) },
  { ext: "bin", bases: ["diffusion_pytorch_model", "pytorch_model"], open: (p) => new TorchBinFile(p) },
];

/** diffusers' / transformers' `_add_variant`: the variant goes before the last extension. */
function withVariant(name: string, variant?: string): string {
  if (!variant) return name;
  const dot = name.lastIndexOf(".");
  return `${name.slice(0, dot)}.${variant}${name.slice(dot)}`;
}

export interface WeightFiles {
  format: WeightFormat;
  paths: string[];
}

/** Finds the weight files of a component folder: safetensors before `.bin`, and `variant` ("fp16") preferred when present. */
export function findWeightFiles(dir: string, variant?: string): WeightFiles {
  const names = existsSync(dir) ? readdirSync(dir) : [];
  const tried: string[] = [];
  for (const format of FORMATS) {
    for (const v of variant ? [variant, undefined] : [undefined, "fp16"]) {
      for (const base of format.bases) {
        const single = withVariant(`${base}.${format.ext}`, v);
        const index = withVariant(`${base}.${format.ext}.index.json`, v);
        tried.push(single, index);
        if (names.includes(single)) return { format, paths: [join(dir, single)] };
        if (!names.includes(index)) continue;
        const map = readJson<{ weight_map?: Record<string, string> }>(join(dir, index)).weight_map;
        if (!map || typeof map !== "object") throw new WeightError(`${join(dir, index)}: no "weight_map"`);
        return { format, paths: [...new Set(Object.values(map))].map((f) => join(dir, f)) };
      }
    }
  }
  throw new WeightError(`${dir}: no weights found (looked for ${tried.join(", ")})`);
}

export class Checkpoint {
  readonly tensors = new Map<string, TensorInfo>();
  readonly files: TensorFile[];
  /** The real folder of the data files (symlinks resolved): the external-data folder for ONNX Runtime. */
  readonly folder: string;

  constructor(readonly dir: string, variant?: string) {
    const { format, paths } = findWeightFiles(dir, variant);
    this.files = paths.map((p) => format.open(p));
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
