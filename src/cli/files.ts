// The files an image command reads and writes: input images and masks (a missing or undecodable file is the
// user's mistake), and the output names, formats and encoding.
import { stat, writeFile } from "node:fs/promises";
import { dirname, extname } from "node:path";
import { decodeImage, decodeMask, encodeImage, EXTENSION, type ImageFormat } from "../image/io.js";
import type { GrayImage, RgbImage } from "../image/rgb.js";
import type { ResolvedOutput } from "../request/fields.js";
import { UserError } from "./errors.js";

async function readInput<T>(path: string, what: string, decode: (path: string) => Promise<T>): Promise<T> {
  const s = await stat(path).catch(() => undefined);
  if (!s) throw new UserError(`${what} file not found: ${path}`);
  if (!s.isFile()) throw new UserError(`${what} ${path} is not a file`);
  try {
    return await decode(path);
  } catch (e) {
    // decodeImage says "decodeImage: cannot decode image (<path>): <reason>"; keep the reason.
    const message = (e as Error).message;
    const at = message.indexOf(`(${path}): `);
    throw new UserError(`cannot read ${what} ${path}: ${at < 0 ? message : message.slice(at + path.length + 4)}`);
  }
}

export const readImage = (path: string, what = "image"): Promise<RgbImage> => readInput(path, what, decodeImage);
export const readMask = (path: string): Promise<GrayImage> => readInput(path, "mask", decodeMask);

const EXTENSIONS: Record<string, ImageFormat> = { ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp" };

export interface OutputPlan {
  paths: string[];
  format: ImageFormat;
  quality: number;
}

/** A file-name stem from a prompt: lower-case words joined by dashes, at most 48 characters. */
export function slug(text: string): string {
  return text.toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "-").slice(0, 48).replace(/^-+|-+$/g, "");
}

/**
 * Where `count` images go and in which format: --output (its extension gives the format when --format is
 * absent) or `<stem>-<seed>`; several images are numbered <name>-1, <name>-2, ... `o` holds what was given,
 * `resolved` the checked output options (the quality's default).
 * The folder is checked now, so a typo fails before the models run.
 */
export async function planOutputs(o: { output?: string; format?: ImageFormat; quality?: number }, resolved: ResolvedOutput, stem: string,
                                  seed: number, count: number): Promise<OutputPlan> {
  let base = o.output ?? `${stem}-${seed}`;
  const ext = extname(base).toLowerCase();
  const fromExt = EXTENSIONS[ext];
  if (o.output !== undefined && ext && !fromExt) throw new UserError(`cannot write ${ext} files (--output ${o.output}); use .png, .jpg or .webp`);
  if (o.format && fromExt && fromExt !== o.format) throw new UserError(`--output ${o.output} does not match --format ${o.format}`);
  const format = o.format ?? fromExt ?? "png";
  if (o.quality !== undefined && format === "png") throw new UserError("--quality applies to jpeg and webp only (png is lossless)");
  if (fromExt) base = base.slice(0, -ext.length);
  const suffix = fromExt ? ext : EXTENSION[format];
  const paths = count === 1 ? [base + suffix] : Array.from({ length: count }, (_, i) => `${base}-${i + 1}${suffix}`);
  const dir = dirname(paths[0]);
  if (!(await stat(dir).then((s) => s.isDirectory(), () => false))) throw new UserError(`output folder ${dir} does not exist`);
  return { paths, format, quality: resolved.outputQuality };
}

export async function writeOutputs(images: RgbImage[], plan: OutputPlan): Promise<void> {
  for (const [i, image] of images.entries()) await writeFile(plan.paths[i], await encodeImage(image, plan.format, plan.quality));
}
