// Prediction records under <dataDir>/predictions, one JSON file each, so they outlive the process.
import { mkdir, open, readdir, readFile, rename } from "node:fs/promises";
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

/** Writes via a temporary file, synced, then renamed: a reader (or a restart) sees the old or the new file, whole. */
let tmpCount = 0;
export async function writeFileDurable(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}-${tmpCount++}.tmp`;
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

export class PredictionStore {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, "predictions");
  }

  /** Creates the folder; predictions the last process left unfinished are marked failed. */
  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith(".json")) continue;
      const p = await this.get(name.slice(0, -5));
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

  async get(id: string): Promise<Prediction | undefined> {
    try {
      return JSON.parse(await readFile(join(this.dir, `${id}.json`), "utf8")) as Prediction;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }
}
