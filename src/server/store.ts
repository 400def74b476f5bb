// Prediction records under <dataDir>/predictions, one JSON file each, so they outlive the process.
import { mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Input } from "./schema.js";

export type Status = "starting" | "processing" | "succeeded" | "failed" | "canceled";

/** Cog's prediction object. */
export interface Prediction {
  id: string;
  input: Input;
  output: string[] | null;
  logs: string;
  error: string | null;
  status: Status;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  metrics: { predict_time?: number; seed?: number };
}

export const isTerminal = (s: Status) => s === "succeeded" || s === "failed" || s === "canceled";

/** Whether `e` says the disk (or the user's quota on it) is full. */
export const isStorageFull = (e: unknown) => ["ENOSPC", "EDQUOT"].includes((e as NodeJS.ErrnoException)?.code ?? "");

const TMP_SUFFIX = ".tmp";

/**
 * Writes via a temporary file, synced, then renamed: a reader (or a restart) sees the old or the new file, whole.
 * A failed write leaves nothing behind.
 */
let tmpCount = 0;
export async function writeFileDurable(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}-${tmpCount++}${TMP_SUFFIX}`;
  try {
    const fh = await open(tmp, "w");
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
}

/** Removes the temporary files of writes a killed process left unfinished. */
export async function removeStaleTemps(dir: string): Promise<void> {
  for (const name of await readdir(dir)) if (name.endsWith(TMP_SUFFIX)) await rm(join(dir, name), { force: true });
}

function parseRecord(text: string): Prediction {
  const p = JSON.parse(text) as Prediction | null;
  if (typeof p !== "object" || p === null || typeof p.id !== "string" || typeof p.status !== "string") throw new Error("not a prediction record");
  return p;
}

/** How often a terminal record that could not be written (a full disk) is tried again. */
const RETRY_MS = 1000;

export class PredictionStore {
  readonly dir: string;
  readonly corruptDir: string;
  /** Terminal records not yet on disk: served from here, written as soon as the disk takes them. */
  private readonly unsaved = new Map<string, Prediction>();
  private retryTimer?: NodeJS.Timeout;

  constructor(dataDir: string) {
    this.dir = join(dataDir, "predictions");
    this.corruptDir = join(this.dir, "corrupt");
  }

  /**
   * Creates the folder. Predictions the last process left unfinished are marked failed; a record that cannot be
   * read (truncated, empty) is moved to predictions/corrupt/ so that it cannot stop the server from starting.
   */
  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await removeStaleTemps(this.dir);
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith(".json")) continue;
      let p: Prediction | undefined;
      try {
        p = await this.get(name.slice(0, -5));
      } catch (e) {
        await mkdir(this.corruptDir, { recursive: true });
        await rename(join(this.dir, name), join(this.corruptDir, name));
        console.warn(`kandinsky serve: predictions/${name} cannot be read (${(e as Error).message}); moved to predictions/corrupt/`);
        continue;
      }
      if (p && !isTerminal(p.status)) {
        p.status = "failed";
        p.error = "the server stopped before this prediction finished";
        p.completed_at = new Date().toISOString();
        await this.save(p);
      }
    }
  }

  save(p: Prediction): Promise<void> {
    return writeFileDurable(join(this.dir, `${p.id}.json`), JSON.stringify(p));
  }

  /**
   * Saves a terminal record, or, if the disk refuses it, keeps it in memory (served by `get`) and retries until
   * it is written. False when it is not on disk yet.
   */
  async saveEventually(p: Prediction): Promise<boolean> {
    try {
      await this.save(p);
      this.unsaved.delete(p.id);
      return true;
    } catch (e) {
      console.error(`kandinsky serve: prediction ${p.id} could not be stored (${(e as Error).message}); retrying every ${RETRY_MS / 1000} s`);
      this.unsaved.set(p.id, structuredClone(p));
      this.retryTimer ??= setInterval(() => void this.retry(), RETRY_MS).unref();
      return false;
    }
  }

  private async retry(): Promise<void> {
    for (const p of this.unsaved.values()) {
      try {
        await this.save(p);
        this.unsaved.delete(p.id);
      } catch {
        return; // the disk is still full; try again later
      }
    }
    if (this.unsaved.size === 0) {
      clearInterval(this.retryTimer);
      this.retryTimer = undefined;
    }
  }

  /** Stops retrying, after a last try; what is still unwritten is failed at the next start. */
  async close(): Promise<void> {
    await this.retry();
    clearInterval(this.retryTimer);
    this.retryTimer = undefined;
  }

  async get(id: string): Promise<Prediction | undefined> {
    const pending = this.unsaved.get(id);
    if (pending) return structuredClone(pending);
    try {
      return parseRecord(await readFile(join(this.dir, `${id}.json`), "utf8"));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }
}
