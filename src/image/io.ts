// Image files <-> RgbImage / GrayImage through sharp (libvips).
import sharp, { type Sharp } from "sharp";
import { type GrayImage, grayImage, type RgbImage, rgbImage, rgbToLuma } from "./rgb.js";
import type { ImageFormat } from "./formats.js";

export { crop, cropCenter, cropTopLeft } from "./rgb.js";
export { EXTENSION, IMAGE_FORMATS, type ImageFormat } from "./formats.js";

function describe(input: Uint8Array | string): string {
  return typeof input === "string" ? input : `${input.length}-byte buffer`;
}

export interface DecodeOptions {
  /**
   * Refuse images of more pixels than this, as read from the file's header before anything is decoded (a PNG
   * of a few KB can declare 16000x16000). Default: sharp's own limit (0x3FFF x 0x3FFF).
   */
  maxPixels?: number;
}

/** An image whose header declares more pixels than DecodeOptions.maxPixels; the message reads after "the image". */
export class ImageTooLargeError extends Error {}

/**
 * The decoding pipeline of every image input: the header's size checked against maxPixels first, then libvips
 * with EXIF orientation applied. failOn "error": tolerate the warnings many real-world JPEGs carry, refuse
 * corrupt or truncated data. The pixel limit again, for libvips to enforce on whatever the header check could not see.
 */
async function open(input: Uint8Array | string, o: DecodeOptions): Promise<Sharp> {
  if (o.maxPixels !== undefined) {
    const { width = 0, height = 0 } = await sharp(input, { limitInputPixels: false }).metadata();
    if (width * height > o.maxPixels) {
      throw new ImageTooLargeError(`is ${width}x${height} (${width * height} pixels), more than the limit of ${o.maxPixels} pixels`);
    }
  }
  return sharp(input, { autoOrient: true, failOn: "error", limitInputPixels: o.maxPixels ?? true });
}

/**
 * Decodes to 8-bit sRGB RGB: EXIF orientation applied, alpha kept or dropped as `alpha` says, anything
 * else (grey, CMYK, palette, 16-bit) converted by libvips.
 */
async function decodeRgb(input: Uint8Array | string, alpha: "flatten-white" | "drop", who: string, o: DecodeOptions): Promise<RgbImage> {
  try {
    let pipeline = (await open(input, o)).toColourspace("srgb");
    pipeline = alpha === "flatten-white" ? pipeline.flatten({ background: "#ffffff" }) : pipeline.removeAlpha();
    const { data, info } = await pipeline.raw({ depth: "uchar" }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels instead of 3`);
    return rgbImage(info.width, info.height, new Uint8Array(data.buffer, data.byteOffset, data.length));
  } catch (e) {
    if (e instanceof ImageTooLargeError) throw e;
    throw new Error(`${who}: cannot decode image (${describe(input)}): ${(e as Error).message}`);
  }
}

/** Any format sharp reads (PNG, JPEG, WebP, GIF, TIFF, AVIF, ...) -> RGB; transparency is flattened onto white. */
export function decodeImage(input: Uint8Array | string, o: DecodeOptions = {}): Promise<RgbImage> {
  return decodeRgb(input, "flatten-white", "decodeImage", o);
}

/**
 * A mask image -> single channel, as PIL's convert("L") would make it: alpha is ignored and colour goes
 * through the 601-2 luma; a grey image keeps its levels exactly.
 */
export async function decodeMask(input: Uint8Array | string, o: DecodeOptions = {}): Promise<GrayImage> {
  return rgbToLuma(await decodeRgb(input, "drop", "decodeMask", o));
}

/**
 * An image's size (as decoded: EXIF orientation applied) and alpha channel, undefined when it has none. OpenAI's
 * image edits mark what to repaint with alpha 0.
 */
export async function decodeAlpha(input: Uint8Array | string, o: DecodeOptions = {}): Promise<{ width: number; height: number; alpha?: GrayImage }> {
  try {
    const image = await open(input, o);
    const { width = 0, height = 0, orientation = 1, hasAlpha } = await image.metadata();
    // EXIF orientations 5 to 8 turn the image a quarter.
    if (!hasAlpha) return orientation >= 5 ? { width: height, height: width } : { width, height };
    const { data, info } = await image.extractChannel("alpha").raw({ depth: "uchar" }).toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, alpha: grayImage(info.width, info.height, new Uint8Array(data.buffer, data.byteOffset, data.length)) };
  } catch (e) {
    if (e instanceof ImageTooLargeError) throw e;
    throw new Error(`decodeAlpha: cannot decode image (${describe(input)}): ${(e as Error).message}`);
  }
}

/** Encodes a single-channel image (a mask) as a greyscale PNG. */
export function encodeGrayPng(img: GrayImage): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 1 } }).png().toBuffer();
}

/** Encodes an RGB image. quality (1-100) applies to JPEG and WebP; PNG is always lossless. */
export async function encodeImage(img: RgbImage, format: ImageFormat, quality?: number): Promise<Buffer> {
  if (img.data.length !== img.width * img.height * 3) {
    throw new Error(`encodeImage: ${img.width}x${img.height} RGB needs ${img.width * img.height * 3} bytes, got ${img.data.length}`);
  }
  if (quality !== undefined && !(Number.isInteger(quality) && quality >= 1 && quality <= 100)) {
    throw new Error(`encodeImage: quality must be an integer from 1 to 100, got ${quality}`);
  }
  const s = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
  switch (format) {
    case "png": return s.png().toBuffer();
    case "jpeg": return s.jpeg({ quality }).toBuffer();
    case "webp": return s.webp({ quality }).toBuffer();
    default: throw new Error(`encodeImage: unsupported format "${format as string}" (png, jpeg or webp)`);
  }
}
