// Output images: encoded, stored (a folder, or Redis in a cluster) before anything reports success, then handed
// to the client as data URLs or uploaded, as Cog does with file outputs.
import { join } from "node:path";
import { encodeImage, EXTENSION, type ImageFormat } from "../image/io.js";
import type { RgbImage } from "../image/rgb.js";
import { discard, outbound, type OutboundResponse } from "./outbound.js";
import { writeFileDurable } from "./store.js";
import type { UrlPolicy } from "./url-policy.js";

export interface OutputFile {
  name: string;
  bytes: Buffer;
  mime: string;
}

const UPLOAD_TIMEOUT_MS = 60_000;

/** The file name of a prediction's image `index`: `<id>-<n>.<ext>` (also what uploads and GET /outputs/{name} use). */
export const outputName = (id: string, index: number, format: ImageFormat) => `${id}-${index}${EXTENSION[format]}`;

const NAME = new RegExp(`^([A-Za-z0-9_-]+)-(\\d+)(${Object.values(EXTENSION).map((e) => e.replace(".", "\\.")).join("|")})$`);
/** The prediction and image an output file name names, or undefined. */
export function parseOutputName(name: string): { id: string; index: number } | undefined {
  const m = NAME.exec(name);
  return m ? { id: m[1], index: Number(m[2]) } : undefined;
}

/** The files of a prediction's images. */
export function encodeOutputs(images: RgbImage[], id: string, format: ImageFormat, quality: number): Promise<OutputFile[]> {
  return Promise.all(images.map(async (im, i) => ({ name: outputName(id, i, format), bytes: await encodeImage(im, format, quality), mime: `image/${format}` })));
}

/** Where output files are kept: they are stored before a prediction is reported done. */
export interface OutputStore {
  put(files: OutputFile[]): Promise<void>;
}

/** Output files under one folder (the local server's <data-dir>/outputs). */
export class FileOutputs implements OutputStore {
  constructor(readonly dir: string) {}

  async put(files: OutputFile[]): Promise<void> {
    await Promise.all(files.map((f) => writeFileDurable(join(this.dir, f.name), f.bytes)));
  }
}

/**
 * Data URLs, or with `uploadTo` a PUT of each file to `<uploadTo>/<name>` (Cog's --upload-url convention),
 * returning the URL the server gives in Location, else the one uploaded to, without its query (signing) part.
 */
export async function publishOutputs(files: OutputFile[], policy: UrlPolicy, uploadTo?: string): Promise<string[]> {
  if (!uploadTo) return files.map((f) => `data:${f.mime};base64,${f.bytes.toString("base64")}`);
  const base = uploadTo.endsWith("/") ? uploadTo : `${uploadTo}/`;
  return Promise.all(files.map(async (f) => {
    const url = new URL(encodeURIComponent(f.name), base);
    let res: OutboundResponse;
    try {
      res = await outbound(url, { method: "PUT", body: f.bytes, headers: { "content-type": f.mime }, signal: AbortSignal.timeout(UPLOAD_TIMEOUT_MS), policy });
    } catch (e) {
      throw new Error(`uploading ${f.name} to ${url.origin} failed: ${(e as Error).message}`);
    }
    discard(res);
    if (!res.ok) throw new Error(`uploading ${f.name} to ${url.origin} failed: HTTP ${res.status}`);
    const final = new URL(res.headers.location ?? url.href, url);
    final.search = "";
    return final.href;
  }));
}
