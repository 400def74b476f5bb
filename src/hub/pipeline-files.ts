// Which files of a diffusers repo a pipeline needs: used to pick what to
// download from a repo listing and to tell whether a local snapshot is usable.
import { readdir, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { findWeightFiles } from "../weights/checkpoint.js";
import { readModelIndex } from "../weights/config.js";

export type Variant = "fp16";

const TOKENIZER_FILES = new Set([
  "vocab.json",
  "merges.txt",
  "tokenizer.json",
  "sentencepiece.bpe.model",
  "tokenizer_config.json",
  "special_tokens_map.json",
]);
const NEVER = /\.(bin|ckpt|onnx|msgpack|h5)$/;
const CONFIG = /^[^/]+\/(config|scheduler_config)\.json$/;
// Weights as diffusers and transformers name them: single files, shards (`name[.fp16]-00001-of-00002.ext`) and
// shard indexes (`name.ext.index[.fp16].json`). Safetensors are `model` (transformers) or `diffusion_pytorch_model`
// (diffusers); PyTorch pickles `pytorch_model` or `diffusion_pytorch_model`.
const WEIGHTS =
  /^(?<dir>[^/]+)\/(?<stem>model|pytorch_model|diffusion_pytorch_model)(?:(?<v1>\.fp16)?(?<shard>-\d+-of-\d+)?\.(?<ext>safetensors|bin)|\.(?<indexed>safetensors|bin)\.index(?<v2>\.fp16)?\.json)$/;
const STEMS: Record<WeightFormat, string[]> = {
  safetensors: ["model", "diffusion_pytorch_model"],
  bin: ["pytorch_model", "diffusion_pytorch_model"],
};

export type WeightFormat = "safetensors" | "bin";

interface WeightFile {
  path: string;
  dir: string;
  fp16: boolean;
  kind: "single" | "shard" | "index";
  format: WeightFormat;
}

function weightFile(path: string): WeightFile | undefined {
  const g = WEIGHTS.exec(path)?.groups;
  if (!g) return undefined;
  const format = (g.ext ?? g.indexed) as WeightFormat;
  if (!STEMS[format].includes(g.stem!)) return undefined;
  const kind = g.indexed ? "index" : g.shard ? "shard" : "single";
  return { path, dir: g.dir!, fp16: Boolean(g.v1 ?? g.v2), kind, format };
}

/** Whether a repo path is a weight file (or shard index) of some component. */
export function isWeightFile(path: string): boolean {
  return weightFile(path) !== undefined;
}

function isSupportFile(path: string): boolean {
  if (NEVER.test(path)) return false;
  if (path === "model_index.json" || CONFIG.test(path)) return true;
  const [dir, name, ...deeper] = path.split("/");
  if (deeper.length > 0 || name === undefined) return false;
  return dir === "image_processor" || (dir === "tokenizer" && TOKENIZER_FILES.has(name));
}

/**
 * Picks, from repo-relative paths, the files to fetch: configs, tokenizer and image-processor files, and per
 * component folder one set of weights. Safetensors whenever the folder has any, `.bin` only when it has none; then
 * the requested variant, falling back to the other where it is missing; then a single file, else index + shards.
 */
export function selectFiles(paths: readonly string[], variant?: Variant): string[] {
  const weightsByDir = new Map<string, WeightFile[]>();
  const picked: string[] = [];
  for (const path of paths) {
    const weight = weightFile(path);
    if (weight) weightsByDir.set(weight.dir, [...(weightsByDir.get(weight.dir) ?? []), weight]);
    else if (isSupportFile(path)) picked.push(path);
  }
  const prefer = <T>(all: T[], keep: (w: T) => boolean) => (all.some(keep) ? all.filter(keep) : all);
  for (const weights of weightsByDir.values()) {
    const format = prefer(weights, (w) => w.format === "safetensors");
    const group = prefer(format, (w) => w.fp16 === (variant === "fp16"));
    picked.push(...prefer(group, (w) => w.kind === "single").map((w) => w.path));
  }
  return picked;
}

async function isFile(path: string): Promise<boolean> {
  // stat follows snapshot symlinks, so a link whose blob is gone counts as missing.
  return stat(path).then((s) => s.isFile(), () => false);
}

async function componentProblem(root: string, name: string): Promise<string | undefined> {
  const dir = join(root, name);
  const files = await readdir(dir).catch(() => undefined);
  if (!files || files.length === 0) return `${name}/ is missing`;
  if (!files.includes("config.json")) return undefined; // tokenizer, scheduler, image processor
  if (!files.some((f) => isWeightFile(`${name}/${f}`))) return `${name}/ has no weights (safetensors or .bin)`;
  // The files the loader would read, each of which must be there (a snapshot link whose blob is gone is not).
  let paths: string[];
  try {
    paths = findWeightFiles(dir).paths;
  } catch (e) {
    return (e as Error).message;
  }
  for (const path of paths) if (!(await isFile(path))) return `${name}/${relative(dir, path)} is missing`;
  return undefined;
}

/**
 * What keeps a local pipeline folder from being usable, or [] when nothing:
 * every component listed in model_index.json needs its folder, and model
 * components (those with a config.json) the weight files Checkpoint would
 * read (safetensors, else a `.bin`). Either variant counts, like the
 * download's fallback: offline we cannot tell which variants the repo has.
 */
export async function missingPipelineFiles(root: string): Promise<string[]> {
  let components: string[];
  try {
    components = Object.keys(readModelIndex(root).components);
  } catch {
    return ["model_index.json is missing or unreadable"];
  }
  const problems = await Promise.all(components.map((name) => componentProblem(root, name)));
  return problems.filter((p) => p !== undefined);
}
