// Downloads the files a pipeline needs from the Hugging Face Hub into the
// shared cache. @huggingface/hub provides the repo metadata, the listing and
// the HTTP blob; its downloadFileToCacheDir/snapshotDownload are not used
// because they neither resume an interrupted `.incomplete` file nor report
// progress, and they fetch whole repos (.bin duplicates included).
import { downloadFile, HubApiError, listFiles, modelInfo } from "@huggingface/hub";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { RepoCache } from "./cache.js";
import { isWeightFile, selectFiles, type Variant } from "./pipeline-files.js";
import { etaSeconds, RateMeter } from "./progress.js";

export interface DownloadProgress {
  /** Repo path of the file being transferred. */
  file: string;
  fileDone: number;
  fileTotal: number;
  /** Bytes of all selected files, including those already cached. */
  done: number;
  total: number;
  bytesPerSecond: number;
  etaSeconds: number | undefined;
}

export interface DownloadOptions {
  revision?: string;
  variant?: Variant;
  onProgress?: (progress: DownloadProgress) => void;
  cacheDir?: string;
  /**
   * Called with the snapshot folder once model_index.json, the configs and the tokenizer and image-processor files
   * are in it, before any weight file is fetched: throwing stops the download there (a wrong repo costs seconds).
   */
  beforeWeights?: (dir: string) => void | Promise<void>;
}

interface RepoFile {
  path: string;
  size: number;
  /** Blob name: the sha256 for LFS files, the git blob sha1 otherwise, as the hub's (X-Linked-)ETag. */
  etag: string;
}

export function hubEndpoint(): string {
  return (process.env["HF_ENDPOINT"] || "https://huggingface.co").replace(/\/+$/, "");
}

function hubToken(): string | undefined {
  return process.env["HF_TOKEN"] || undefined;
}

/**
 * One line naming the repo and what went wrong, instead of the library's
 * status + URL dump; errors that are not HTTP or network failures pass through.
 */
function hubError(repoId: string, err: unknown): unknown {
  const endpoint = hubEndpoint();
  if (err instanceof HubApiError) {
    const detail = typeof err.data?.["error"] === "string" ? `: ${err.data["error"]}` : "";
    switch (err.statusCode) {
      case 404:
        return new Error(`model ${repoId} was not found on ${endpoint} (HTTP 404${detail})`);
      case 401:
        return new Error(
          hubToken()
            ? `model ${repoId}: ${endpoint} did not accept HF_TOKEN (HTTP 401${detail})`
            : `model ${repoId}: ${endpoint} asks for authentication (HTTP 401${detail}); it may not exist, or it is private or gated: set HF_TOKEN`,
        );
      case 403:
        return new Error(
          `model ${repoId}: access denied by ${endpoint} (HTTP 403${detail}); if it is gated, accept its conditions at ${endpoint}/${repoId} with the account of HF_TOKEN`,
        );
      default:
        return new Error(`model ${repoId}: ${endpoint} answered HTTP ${err.statusCode}${detail}`);
    }
  }
  // fetch reports network failures as TypeError("fetch failed") with the socket error as cause.
  if (!(err instanceof TypeError && err.message === "fetch failed")) return err;
  const cause = err.cause instanceof Error ? err.cause : err;
  const reason = (cause as { code?: string }).code ?? cause.message;
  return new Error(
    `model ${repoId}: cannot reach ${endpoint} (${reason}); check the network, or set HF_HUB_OFFLINE=1 to use only the cache`,
  );
}

async function sizeOf(path: string): Promise<number | undefined> {
  return stat(path).then((s) => s.size, () => undefined);
}

/**
 * Fetches one file into blobs/<etag>.incomplete, continuing a previous partial
 * file with a Range request as huggingface_hub does, then renames it to the blob.
 */
async function fetchBlob(
  repoId: string,
  commit: string,
  file: RepoFile,
  target: string,
  onBytes: (fileDone: number, received: number) => void,
): Promise<void> {
  const incomplete = `${target}.incomplete`;
  await mkdir(dirname(target), { recursive: true });
  let done = (await sizeOf(incomplete)) ?? 0;
  if (done > file.size) {
    await rm(incomplete);
    done = 0;
  }
  const out = await open(incomplete, "a");
  try {
    if (done < file.size) {
      const path = file.path.split("/").map(encodeURIComponent).join("/");
      // Passing downloadInfo skips the library's per-file probe (the listing already
      // gave size and etag); xet: false keeps plain HTTP, whose Range requests resume.
      const blob = await downloadFile({
        repo: { type: "model", name: repoId },
        path: file.path,
        downloadInfo: { url: `${hubEndpoint()}/${repoId}/resolve/${commit}/${path}`, size: file.size, etag: file.etag },
        xet: false,
        accessToken: hubToken(),
      });
      if (!blob) throw new Error("the hub did not return it");
      // slice() makes the library ask for `Range: bytes=<done>-<size - 1>`.
      for await (const chunk of (done > 0 ? blob.slice(done) : blob).stream()) {
        await out.write(chunk);
        done += chunk.byteLength;
        if (done > file.size) break; // a server ignoring Range resends everything
        onBytes(done, chunk.byteLength);
      }
    }
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(
      `model ${repoId}: download of ${file.path} was interrupted at ${done} of ${file.size} bytes (${reason}); run again to resume`,
    );
  } finally {
    await out.close();
  }
  if (done !== file.size) {
    await rm(incomplete);
    throw new Error(
      `model ${repoId}: ${file.path} arrived with ${done} bytes instead of ${file.size}; the partial file was discarded, run again`,
    );
  }
  await rename(incomplete, target);
}

/**
 * Downloads model_index.json, configs, tokenizer/image-processor files, then
 * the weights (selectFiles' choice) of a diffusers repo into the cache; returns
 * the snapshot folder. refs/<revision> is written last, so a ref always names a
 * snapshot whose download finished.
 */
export async function downloadSnapshot(repoId: string, opts: DownloadOptions = {}): Promise<string> {
  const revision = opts.revision ?? "main";
  const cache = new RepoCache(repoId, opts.cacheDir);
  const common = { hubUrl: hubEndpoint(), accessToken: hubToken() };

  let commit: string;
  const files: RepoFile[] = [];
  try {
    const info = await modelInfo({ ...common, name: repoId, revision, additionalFields: ["sha"] });
    if (!info.sha) throw new Error(`model ${repoId}: the hub did not report a commit for revision ${revision}`);
    commit = info.sha;
    const listed = new Map<string, RepoFile>();
    const repo = { type: "model", name: repoId } as const;
    for await (const entry of listFiles({ ...common, repo, revision: commit, recursive: true })) {
      if (entry.type !== "file") continue;
      listed.set(entry.path, { path: entry.path, size: entry.size, etag: entry.lfs?.oid ?? entry.oid! });
    }
    for (const path of selectFiles([...listed.keys()], opts.variant)) files.push(listed.get(path)!);
  } catch (err) {
    throw hubError(repoId, err);
  }
  if (!files.some((f) => f.path === "model_index.json")) {
    throw new Error(`model ${repoId} has no model_index.json at ${revision}: not a diffusers pipeline repo`);
  }

  const total = files.reduce((sum, f) => sum + f.size, 0);
  let finished = 0; // bytes of files already in the cache, or fetched in this run
  let fetched = 0; // bytes received in this run: the rate leaves out what was already on disk
  const rate = new RateMeter();
  const report = (file: RepoFile, fileDone: number) => {
    const done = finished + fileDone;
    const bytesPerSecond = rate.perSecond();
    opts.onProgress?.({
      file: file.path,
      fileDone,
      fileTotal: file.size,
      done,
      total,
      bytesPerSecond,
      etaSeconds: etaSeconds(total - done, bytesPerSecond),
    });
  };
  const fetchAll = async (group: RepoFile[]) => {
    const cached = await Promise.all(group.map(async (f) => (await sizeOf(cache.blobPath(f.etag))) === f.size));
    const toFetch: RepoFile[] = [];
    for (const [i, file] of group.entries()) {
      if (!cached[i]) {
        toFetch.push(file);
        continue;
      }
      await cache.link(commit, file.path, file.etag);
      report(file, file.size);
      finished += file.size;
    }
    // Small files first: an interruption then leaves the smaller files in place and only large ones to resume.
    for (const file of toFetch.sort((a, b) => a.size - b.size)) {
      await fetchBlob(repoId, commit, file, cache.blobPath(file.etag), (fileDone, received) => {
        fetched += received;
        rate.add(fetched);
        report(file, fileDone);
      });
      await cache.link(commit, file.path, file.etag);
      report(file, file.size); // also covers empty files and a finished .incomplete, which send no bytes
      finished += file.size;
    }
  };
  // Metadata first, checked, then the weights.
  await fetchAll(files.filter((f) => !isWeightFile(f.path)));
  await opts.beforeWeights?.(cache.snapshotDir(commit));
  await fetchAll(files.filter((f) => isWeightFile(f.path)));
  await cache.writeRef(revision, commit);
  return cache.snapshotDir(commit);
}
