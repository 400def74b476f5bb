// Sessions that load in seconds. Creating a CPU session of a large network is slow because of what ORT does to
// the graph at load: its blocked-layout rewrite of every convolution and its weights ("layout" level) took 16–37 s
// for the full UNet, against 2 s at the "extended" level, which runs 20% slower. ORT can save the graph it ends up
// with (`optimizedModelFilePath`); loading that file skips the rewrite and memory-maps the weights. We keep one such
// file set per network in our cache folder, named by a content key: a change of the graph, of the weights' bytes,
// of ORT or of the CPU makes a new key, and the entry of the old key is removed when the new one is written.
//
// What an entry holds: the network's graph in ORT's final form, with its weights as ORT uses them (convolution
// weights re-laid out in blocks, the rest as they were): about the size of the weight files. That copy is the cost of
// not redoing the rewrite on every load. Pre-packed GEMM weights are not saved (ORT's
// `session.save_external_prepacked_constant_initializers` crashes the prior's session at its first run in ORT 1.30;
// packing them at load takes about a second). Entries are written in a temporary folder and renamed into place,
// so a reader sees a complete entry or none, and concurrent writers of one key leave one entry.
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, homedir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import type { Graph } from "./graph.js";

/** The entry's model file and external-data file. */
export const MODEL_FILE = "model.onnx";
export const DATA_FILE = "model.data";

/** Our cache folder: $KANDINSKY_CACHE, else $XDG_CACHE_HOME/kandinsky-ts, else ~/.cache/kandinsky-ts. */
export function cacheRoot(): string {
  return process.env.KANDINSKY_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "kandinsky-ts");
}

const sha256 = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");

/** A Hugging Face cache blob is named by the sha256 of its content (LFS files, which weights always are). */
const HF_BLOB = /\/blobs\/([0-9a-f]{64})$/;

/**
 * The sha256 of a file's content. Hugging Face blobs carry it in their name; other files are hashed once and the
 * result is remembered in the cache folder with the file's size, mtime, ctime and inode (any write changes ctime).
 */
export function contentId(path: string, root = cacheRoot()): string {
  const real = realpathSync(path);
  const blob = HF_BLOB.exec(real);
  if (blob) return blob[1];
  const st = statSync(real);
  const stamp = `${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}`;
  const memo = join(root, "hashes", `${sha256(real).slice(0, 32)}.json`);
  try {
    const m = JSON.parse(readFileSync(memo, "utf8")) as { path: string; stamp: string; sha256: string };
    if (m.path === real && m.stamp === stamp) return m.sha256;
  } catch {
    // no memo yet, or an unreadable one: hash the file
  }
  const h = createHash("sha256");
  const buf = Buffer.alloc(16 << 20);
  const fd = openSync(real, "r");
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  const digest = h.digest("hex");
  writeAtomic(memo, JSON.stringify({ path: real, stamp, sha256: digest }));
  return digest;
}

function writeAtomic(path: string, text: string): void {
  mkdirSync(join(path, ".."), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

let flagsRead: string[] | undefined;
/** The CPU's feature flags (Linux; empty elsewhere). */
export function cpuFlags(): string[] {
  if (!flagsRead) {
    try {
      flagsRead = /^flags\s*:(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1].trim().split(/\s+/) ?? [];
    } catch {
      flagsRead = [];
    }
  }
  return flagsRead;
}

/** What ORT's saved model depends on besides the graph: its version and the CPU's features (the layouts it picks). */
function machine(): string {
  // The version from the package, so that computing a key does not load the native runtime.
  const ort = (createRequire(import.meta.url)("onnxruntime-node/package.json") as { version: string }).version;
  return JSON.stringify({ ort, arch: process.arch, cpu: cpus()[0]?.model, flags: cpuFlags() });
}

/**
 * A content key for a graph's saved session: the encoded graph (our structure, the weights' names, shapes and byte
 * ranges), the content of every weight file it reads, ORT's version, the CPU, and `extra` (settings that change
 * what is saved, e.g. the precision and the quantizer's version).
 */
export function sessionKey(graph: Graph, extra: Record<string, unknown> = {}): string {
  const h = createHash("sha256");
  h.update(graph.encode());
  const folder = graph.externalFolder;
  for (const f of graph.externalFiles) h.update(`\0${f}=${contentId(join(folder!, f))}`);
  h.update(`\0${machine()}\0${JSON.stringify(extra)}`);
  return h.digest("hex").slice(0, 32);
}

/** Where a network's saved session lives: `folder` holds at most one entry, `key`. */
export interface SessionCache {
  folder: string;
  key: string;
}

/**
 * The folder of one network's saved session: `name` is a readable id (class and precision), `id` tells the network
 * apart from others of that name (its component folder and graph variant).
 */
export function networkFolder(name: string, id: string, root = cacheRoot()): string {
  return join(root, "sessions", `${name}-${sha256(id).slice(0, 12)}`);
}

/** The entry's model file when a complete entry exists. */
export function cachedModel(c: SessionCache): string | undefined {
  const file = join(c.folder, c.key, MODEL_FILE);
  return existsSync(file) ? file : undefined;
}

/** A fresh temporary folder for writing the entry (next to it, so the final rename stays on one file system). */
export function startEntry(c: SessionCache): string {
  mkdirSync(c.folder, { recursive: true });
  removeStale(c.folder);
  const tmp = join(c.folder, `.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
  mkdirSync(tmp);
  return tmp;
}

/**
 * Moves a written entry into place and removes the network's other entries. When another process put the same key
 * in place first, ours is dropped (both are the same).
 */
export function commitEntry(c: SessionCache, tmp: string): void {
  const final = join(c.folder, c.key);
  try {
    renameSync(tmp, final);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(join(final, MODEL_FILE))) throw e;
  }
  for (const name of readdirSync(c.folder)) {
    if (name !== c.key && !name.startsWith(".tmp-")) rmSync(join(c.folder, name), { recursive: true, force: true });
  }
}

/** Drops an entry that failed to load (it is rebuilt). */
export function dropEntry(c: SessionCache): void {
  rmSync(join(c.folder, c.key), { recursive: true, force: true });
}

/** Removes temporary folders left by processes that died while writing. */
function removeStale(folder: string): void {
  for (const name of readdirSync(folder)) {
    const pid = /^\.tmp-(\d+)-/.exec(name)?.[1];
    if (pid && !alive(Number(pid))) rmSync(join(folder, name), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
