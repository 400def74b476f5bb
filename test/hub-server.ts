// Test helper: a loopback stand-in for the parts of the Hugging Face Hub HTTP
// API the downloader uses, serving repos from local folders. Headers follow
// the real hub: /resolve answers small files directly with ETag (git blob
// sha1), and LFS files with a 302 to a CDN URL plus X-Linked-Etag (sha256) and
// X-Linked-Size; both carry X-Repo-Commit, and content supports Range.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join, relative } from "node:path";

export interface HubRepoSource {
  /** Folder whose files make up the repo. */
  dir: string;
  /** Extra files served as if committed (e.g. a .bin the downloader must skip). */
  extra?: Record<string, Buffer>;
  /** Files of `dir` left out of the repo (e.g. to make a component .bin-only). */
  omit?: string[];
  /** When set, requests must carry `Authorization: Bearer <token>` (401 without, 403 with another). */
  token?: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** Repo and file the request targeted, if any. */
  repo?: string;
  file?: string;
  range?: string;
  authorization?: string;
}

export interface ServedFile {
  path: string;
  content: Buffer;
  gitOid: string;
  /** sha256, for files stored in LFS. */
  lfsOid?: string;
}

interface ServedRepo {
  id: string;
  commit: string;
  token?: string;
  files: Map<string, ServedFile>;
}

const LFS = /\.(safetensors|bin|model|ckpt|onnx|msgpack|h5)$/;

function gitBlobOid(content: Buffer): string {
  return createHash("sha1").update(`blob ${content.length}\0`).update(content).digest("hex");
}

function loadRepo(id: string, source: HubRepoSource): ServedRepo {
  const contents = new Map<string, Buffer>();
  for (const entry of readdirSync(source.dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const full = join(entry.parentPath, entry.name);
      contents.set(relative(source.dir, full), readFileSync(full));
    }
  }
  for (const path of source.omit ?? []) contents.delete(path);
  for (const [path, content] of Object.entries(source.extra ?? {})) contents.set(path, content);
  const files = new Map<string, ServedFile>();
  for (const [path, content] of [...contents].sort(([a], [b]) => a.localeCompare(b))) {
    if (!LFS.test(path)) {
      files.set(path, { path, content, gitOid: gitBlobOid(content) });
      continue;
    }
    const lfsOid = createHash("sha256").update(content).digest("hex");
    // The git oid of an LFS file is that of its pointer, as the tree API reports it.
    const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${lfsOid}\nsize ${content.length}\n`;
    files.set(path, { path, content, gitOid: gitBlobOid(Buffer.from(pointer)), lfsOid });
  }
  const commit = createHash("sha1")
    .update(id)
    .update([...files.values()].map((f) => `${f.path} ${f.gitOid}`).join("\n"))
    .digest("hex");
  return { id, commit, token: source.token, files };
}

export interface HubServer {
  url: string;
  requests: RecordedRequest[];
  repo(id: string): { commit: string; files: Map<string, ServedFile> };
  /** How many requests (any endpoint) targeted this repo file. */
  count(repo: string, file: string): number;
  /** The next content response for this file sends `afterBytes` bytes, then drops the connection. */
  cutNext(repo: string, file: string, afterBytes: number): void;
  close(): Promise<void>;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "Content-Type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

function sendContent(
  req: IncomingMessage,
  res: ServerResponse,
  content: Buffer,
  headers: Record<string, string>,
  cutAfter: number | undefined,
): void {
  let start = 0;
  let end = content.length - 1;
  let status = 200;
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
  if (range) {
    start = Number(range[1]);
    end = range[2] ? Math.min(Number(range[2]), end) : end;
    if (start > end) {
      res.writeHead(416, { "Content-Range": `bytes */${content.length}` });
      res.end();
      return;
    }
    status = 206;
    headers["Content-Range"] = `bytes ${start}-${end}/${content.length}`;
  }
  res.writeHead(status, {
    ...headers,
    "Accept-Ranges": "bytes",
    "Content-Type": "application/octet-stream",
    "Content-Length": String(end - start + 1),
  });
  if (req.method === "HEAD") {
    res.end();
  } else if (cutAfter === undefined) {
    res.end(content.subarray(start, end + 1));
  } else {
    // Drop the connection a little after the bytes are out, so the client has read them
    // (a stream that errors discards chunks still queued in it).
    res.write(content.subarray(start, start + cutAfter), () => setTimeout(() => res.socket?.destroy(), 100));
  }
}

export async function startHubServer(repoSources: Record<string, HubRepoSource>): Promise<HubServer> {
  const repos = new Map(Object.entries(repoSources).map(([id, source]) => [id, loadRepo(id, source)]));
  const requests: RecordedRequest[] = [];
  const cuts = new Map<string, number>();

  const handle = (req: IncomingMessage, res: ServerResponse, origin: string): void => {
    const url = new URL(req.url ?? "/", origin);
    const record: RecordedRequest = {
      method: req.method ?? "GET",
      path: url.pathname,
      range: req.headers.range,
      authorization: req.headers.authorization,
    };
    requests.push(record);

    // /api/models/{repo}/revision/{rev} | /api/models/{repo}/tree/{rev}[/{path}]
    // | /{repo}/resolve/{rev}/{path} | /cdn-lfs/{repo}/{sha256} (the LFS redirect target)
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree)\/([^/]+)(?:\/(.*))?$/.exec(url.pathname);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const cdn = /^\/cdn-lfs\/([^/]+\/[^/]+)\/([0-9a-f]{64})$/.exec(url.pathname);
    const match = api ?? resolve ?? cdn;
    if (!match) return json(res, 404, { error: "Not found" });
    const repo = repos.get(decodeURIComponent(match[1]!));
    if (!repo) return json(res, 404, { error: "Repository not found" }, { "X-Error-Code": "RepoNotFound" });
    record.repo = repo.id;
    if (repo.token && req.headers.authorization !== `Bearer ${repo.token}`) {
      const status = req.headers.authorization ? 403 : 401;
      return json(res, status, { error: "Access to this repo is restricted" }, { "X-Error-Code": "GatedRepo" });
    }

    if (cdn) {
      const file = [...repo.files.values()].find((f) => f.lfsOid === cdn[2]);
      if (!file) return json(res, 404, { error: "Not found" });
      record.file = file.path;
      return serve(req, res, repo, file, { ETag: `"${file.lfsOid}"` });
    }
    const revision = decodeURIComponent(match[api ? 3 : 2]!);
    if (revision !== "main" && revision !== repo.commit) {
      return json(res, 404, { error: `Invalid rev id: ${revision}` }, { "X-Error-Code": "RevisionNotFound" });
    }
    if (api?.[2] === "revision") {
      return json(res, 200, {
        _id: repo.commit.slice(0, 24),
        id: repo.id,
        sha: repo.commit,
        private: Boolean(repo.token),
        lastModified: "2024-01-01T00:00:00.000Z",
        siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })),
      });
    }
    if (api) return json(res, 200, tree(repo, api[4] ? decodeURIComponent(api[4]) : "", url.searchParams.get("recursive") === "true"));

    const path = decodeURIComponent(resolve![3]!);
    const file = repo.files.get(path);
    record.file = path;
    if (!file) return json(res, 404, { error: "Entry not found" }, { "X-Error-Code": "EntryNotFound" });
    const headers = { "X-Repo-Commit": repo.commit };
    if (file.lfsOid) {
      res.writeHead(302, {
        ...headers,
        Location: `/cdn-lfs/${repo.id}/${file.lfsOid}`,
        "X-Linked-Etag": `"${file.lfsOid}"`,
        "X-Linked-Size": String(file.content.length),
        ETag: `"${file.gitOid}"`,
      });
      res.end();
      return;
    }
    return serve(req, res, repo, file, { ...headers, ETag: `"${file.gitOid}"` });
  };

  const serve = (
    req: IncomingMessage,
    res: ServerResponse,
    repo: ServedRepo,
    file: ServedFile,
    headers: Record<string, string>,
  ) => {
    const key = `${repo.id}:${file.path}`;
    const cutAfter = req.method === "GET" ? cuts.get(key) : undefined;
    if (cutAfter !== undefined) cuts.delete(key);
    sendContent(req, res, file.content, headers, cutAfter);
  };

  const server = createServer((req, res) => handle(req, res, `http://${req.headers.host}`));
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    requests,
    repo: (id) => {
      const repo = repos.get(id);
      if (!repo) throw new Error(`hub-server: no repo ${id}`);
      return repo;
    },
    count: (repo, file) => requests.filter((r) => r.repo === repo && r.file === file).length,
    cutNext: (repo, file, afterBytes) => void cuts.set(`${repo}:${file}`, afterBytes),
    close: () =>
      new Promise<void>((done, fail) => {
        if (!server.listening) return done();
        server.closeAllConnections();
        server.close((err) => (err ? fail(err) : done()));
      }),
  };
}

/** The tree API's entries: files with size, git oid and LFS info, plus directories. */
function tree(repo: ServedRepo, under: string, recursive: boolean): unknown[] {
  const prefix = under ? `${under}/` : "";
  const entries = new Map<string, unknown>();
  for (const file of repo.files.values()) {
    if (!file.path.startsWith(prefix)) continue;
    const rest = file.path.slice(prefix.length).split("/");
    for (let depth = 1; depth < rest.length && (recursive || depth === 1); depth++) {
      const dir = prefix + rest.slice(0, depth).join("/");
      entries.set(dir, { type: "directory", oid: createHash("sha1").update(dir).digest("hex"), size: 0, path: dir });
    }
    if (!recursive && rest.length > 1) continue;
    entries.set(file.path, {
      type: "file",
      oid: file.gitOid,
      size: file.content.length,
      path: file.path,
      ...(file.lfsOid && { lfs: { oid: file.lfsOid, size: file.content.length, pointerSize: 134 } }),
    });
  }
  return [...entries.values()];
}

/**
 * Builds in `cacheDir` the cache Python's huggingface_hub leaves for a repo served from `source`: blobs named
 * by etag, relative symlinks from snapshots/<commit>, refs/main. Returns the snapshot folder.
 */
export async function writePythonCache(cacheDir: string, id: string, source: string, commit: string): Promise<string> {
  const repoDir = join(cacheDir, `models--${id.replace("/", "--")}`);
  const snapshot = join(repoDir, "snapshots", commit);
  for (const file of loadRepo(id, { dir: source }).files.values()) {
    const blob = join(repoDir, "blobs", file.lfsOid ?? file.gitOid);
    const pointer = join(snapshot, file.path);
    await mkdir(dirname(blob), { recursive: true });
    await mkdir(dirname(pointer), { recursive: true });
    await writeFile(blob, file.content);
    await symlink(relative(dirname(pointer), blob), pointer);
  }
  await mkdir(join(repoDir, "refs"));
  await writeFile(join(repoDir, "refs", "main"), commit);
  return snapshot;
}
