// The Hugging Face cache, shared with Python's huggingface_hub:
//   models--{org}--{name}/blobs/<etag>                 file contents
//   models--{org}--{name}/snapshots/<commit>/<path>    relative symlinks into blobs
//   models--{org}--{name}/refs/<revision>              the commit hash, no newline
import { getHFHubCachePath, getRepoFolderName } from "@huggingface/hub";
import { lstat, mkdir, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { missingPipelineFiles } from "./pipeline-files.js";

export const COMMIT_HASH = /^[0-9a-f]{40}$/;

/**
 * HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub; the library
 * also honours the legacy HUGGINGFACE_HUB_CACHE and XDG_CACHE_HOME as Python does.
 */
export function hubCacheDir(): string {
  return getHFHubCachePath();
}

export class RepoCache {
  readonly dir: string;

  constructor(
    readonly repoId: string,
    readonly cacheDir = hubCacheDir(),
  ) {
    this.dir = join(cacheDir, getRepoFolderName({ type: "model", name: repoId }));
  }

  blobPath(etag: string): string {
    return join(this.dir, "blobs", etag);
  }

  snapshotDir(commit: string): string {
    return join(this.dir, "snapshots", commit);
  }

  /** The commit a revision points to in the cache: itself when it is a hash, else refs/<revision>. */
  async commitFor(revision: string): Promise<string | undefined> {
    if (COMMIT_HASH.test(revision)) return revision;
    const ref = await readFile(join(this.dir, "refs", revision), "utf8").catch(() => undefined);
    return ref?.trim() || undefined;
  }

  async writeRef(revision: string, commit: string): Promise<void> {
    if (revision === commit) return;
    const path = join(this.dir, "refs", revision);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, commit); // Python reads the file verbatim: no trailing newline.
  }

  /** Links snapshots/<commit>/<path> to blobs/<etag> with a relative symlink, as Python does, so the cache can move. */
  async link(commit: string, path: string, etag: string): Promise<void> {
    const pointer = join(this.snapshotDir(commit), path);
    await mkdir(dirname(pointer), { recursive: true });
    await rm(pointer, { force: true });
    await symlink(relative(dirname(pointer), this.blobPath(etag)), pointer);
  }

  /** The snapshot a revision resolves to, when its pipeline files are all present. */
  async completeSnapshot(revision: string): Promise<string | undefined> {
    const commit = await this.commitFor(revision);
    if (!commit) return undefined;
    const dir = this.snapshotDir(commit);
    return (await missingPipelineFiles(dir)).length === 0 ? dir : undefined;
  }
}

export interface CachedRepo {
  repoId: string;
  dir: string;
  /** Bytes in finished blobs (shared by all snapshots). */
  sizeBytes: number;
  /** revision name → commit */
  refs: Map<string, string>;
  snapshots: string[];
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)));
}

/** The model repos in a cache, whoever wrote them. */
export async function listCachedRepos(cacheDir = hubCacheDir()): Promise<CachedRepo[]> {
  const names = (await readdir(cacheDir).catch(() => [])).filter((n) => n.startsWith("models--")).sort();
  return Promise.all(
    names.map(async (name) => {
      const dir = join(cacheDir, name);
      let sizeBytes = 0;
      for (const blob of await filesUnder(join(dir, "blobs"))) {
        if (!blob.endsWith(".incomplete")) sizeBytes += (await lstat(join(dir, "blobs", blob))).size;
      }
      const refs = new Map<string, string>();
      for (const ref of await filesUnder(join(dir, "refs"))) {
        refs.set(ref, (await readFile(join(dir, "refs", ref), "utf8")).trim());
      }
      const snapshots = await readdir(join(dir, "snapshots")).catch(() => []);
      return { repoId: name.slice("models--".length).split("--").join("/"), dir, sizeBytes, refs, snapshots };
    }),
  );
}
