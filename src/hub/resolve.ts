// Turns a model argument (local folder or Hugging Face repo id) into a local
// pipeline folder, downloading into the shared cache when needed.
import { stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { hubCacheDir, listCachedRepos, RepoCache } from "./cache.js";
import { downloadSnapshot, type DownloadProgress } from "./download.js";
import { missingPipelineFiles, type Variant } from "./pipeline-files.js";
import { formatQuantity } from "./progress.js";

export interface ResolveOptions {
  offline?: boolean;
  /** Branch, tag or commit hash; default "main". */
  revision?: string;
  variant?: Variant;
  onProgress?: (progress: DownloadProgress) => void;
  /**
   * Whether the folder is what the caller wants (throws when not): run on a local folder, on a cached snapshot, and
   * on a download once its metadata is in, before any weight file is fetched.
   */
  check?: (dir: string) => void | Promise<void>;
}

const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;

/** HF_HUB_OFFLINE as huggingface_hub reads it: 1/ON/YES/TRUE, any case. */
export function offlineFromEnv(): boolean {
  return ["1", "ON", "YES", "TRUE"].includes((process.env["HF_HUB_OFFLINE"] ?? "").toUpperCase());
}

export async function resolveModel(spec: string, opts: ResolveOptions = {}): Promise<string> {
  const local = await stat(spec).catch(() => undefined);
  if (local) {
    if (!local.isDirectory()) throw new Error(`model ${spec} is a file; expected a diffusers pipeline folder`);
    const dir = resolve(spec);
    const found = await stat(join(dir, "model_index.json")).catch(() => undefined);
    if (!found) throw new Error(`model folder ${dir} has no model_index.json: not a diffusers pipeline folder`);
    await opts.check?.(dir);
    return dir;
  }
  if (!REPO_ID.test(spec)) {
    throw new Error(`model ${spec} is neither an existing folder nor a Hugging Face repo id (org/name)`);
  }
  const revision = opts.revision ?? "main";
  const cache = new RepoCache(spec);
  const cached = await cache.completeSnapshot(revision);
  if (cached) {
    await opts.check?.(cached);
    return cached;
  }
  const envOffline = offlineFromEnv();
  if (opts.offline || envOffline) {
    const why = envOffline ? "HF_HUB_OFFLINE is set" : "offline mode was requested";
    const at = revision === "main" ? "" : ` (revision ${revision})`;
    throw new Error(`model ${spec}${at} is not in the Hugging Face cache at ${cache.cacheDir} and ${why}`);
  }
  return downloadSnapshot(spec, { revision, variant: opts.variant, onProgress: opts.onProgress, beforeWeights: opts.check });
}

/** The cache's model repos, for the CLI: size, refs and whether each snapshot is usable. */
export async function describeCache(cacheDir = hubCacheDir()): Promise<string> {
  const repos = await listCachedRepos(cacheDir);
  const lines = [`Hugging Face cache: ${cacheDir}${repos.length === 0 ? " (no models)" : ""}`];
  for (const repo of repos) {
    lines.push(`  ${repo.repoId}  ${formatQuantity(repo.sizeBytes, "bytes")}`);
    for (const commit of repo.snapshots) {
      const refs = [...repo.refs].filter(([, c]) => c === commit).map(([name]) => name);
      const snapshot = join(repo.dir, "snapshots", commit);
      const missing = await missingPipelineFiles(snapshot);
      const state = missing.length === 0 ? "complete" : `incomplete: ${missing.join(", ")}`;
      lines.push(`    ${refs.length > 0 ? refs.join(", ") : commit.slice(0, 12)}  ${state}  ${snapshot}`);
    }
  }
  return lines.join("\n");
}
