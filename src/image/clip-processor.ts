// CLIPImageProcessor as transformers 4.32 runs it: resize the shortest edge with PIL on uint8 (so Pillow's
// fixed-point filter applies), center crop (zero-padding an image smaller than the crop), rescale in float64
// then cast to float32, normalize in float32, channels first.
import { readJson } from "../weights/config.js";
import type { RgbImage } from "./rgb.js";
import { type Resample, resampleFromPil, resize } from "./resample.js";

export interface ClipProcessorConfig {
  doResize: boolean;
  /** Target length of the shorter side. */
  shortestEdge: number;
  resample: Resample;
  doCenterCrop: boolean;
  cropHeight: number;
  cropWidth: number;
  doRescale: boolean;
  rescaleFactor: number;
  doNormalize: boolean;
  imageMean: [number, number, number];
  imageStd: [number, number, number];
}

/** transformers' OPENAI_CLIP_MEAN / OPENAI_CLIP_STD, the class defaults. */
const CLIP_MEAN: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

function bool(v: unknown, name: string, dflt: boolean): boolean {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== "boolean") throw new Error(`preprocessor config: ${name} must be a boolean, got ${JSON.stringify(v)}`);
  return v;
}

function positiveInt(v: unknown, name: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw new Error(`preprocessor config: ${name} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

function triple(v: unknown, name: string, dflt: [number, number, number]): [number, number, number] {
  if (v === undefined || v === null) return dflt;
  if (typeof v === "number") return [v, v, v];
  if (Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === "number")) return [v[0], v[1], v[2]];
  throw new Error(`preprocessor config: ${name} must be a number or 3 numbers, got ${JSON.stringify(v)}`);
}

/** `size` as get_size_dict(default_to_square=False) reads it; CLIP's resize accepts only a shortest edge. */
function shortestEdge(v: unknown): number {
  if (v === undefined || v === null) return 224;
  if (typeof v === "number") return positiveInt(v, "size");
  if (typeof v === "object" && v !== null && "shortest_edge" in v) {
    return positiveInt((v as Record<string, unknown>).shortest_edge, "size.shortest_edge");
  }
  throw new Error(`preprocessor config: CLIPImageProcessor needs size {"shortest_edge": n} (or an int), got ${JSON.stringify(v)}`);
}

/** `crop_size` as get_size_dict(default_to_square=True) reads it: an int is a square. */
function cropSize(v: unknown): [number, number] {
  if (v === undefined || v === null) return [224, 224];
  if (typeof v === "number") return [positiveInt(v, "crop_size"), v];
  if (Array.isArray(v) && v.length === 2) return [positiveInt(v[0], "crop_size[0]"), positiveInt(v[1], "crop_size[1]")];
  if (typeof v === "object" && v !== null && "height" in v && "width" in v) {
    const o = v as Record<string, unknown>;
    return [positiveInt(o.height, "crop_size.height"), positiveInt(o.width, "crop_size.width")];
  }
  throw new Error(`preprocessor config: crop_size must be {"height", "width"} or an int, got ${JSON.stringify(v)}`);
}

/** Reads a preprocessor_config.json object; absent keys take CLIPImageProcessor's defaults. */
export function parseClipProcessorConfig(json: unknown): ClipProcessorConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new Error("preprocessor config: expected a JSON object");
  }
  const c = json as Record<string, unknown>;
  const [cropHeight, cropWidth] = cropSize(c.crop_size);
  const rescaleFactor = c.rescale_factor ?? 1 / 255;
  if (typeof rescaleFactor !== "number") {
    throw new Error(`preprocessor config: rescale_factor must be a number, got ${JSON.stringify(rescaleFactor)}`);
  }
  const resample = c.resample ?? 3;
  if (typeof resample !== "number") {
    throw new Error(`preprocessor config: resample must be a PIL filter code, got ${JSON.stringify(resample)}`);
  }
  // do_convert_rgb is implied: every RgbImage is already RGB.
  return {
    doResize: bool(c.do_resize, "do_resize", true),
    shortestEdge: shortestEdge(c.size),
    resample: resampleFromPil(resample),
    doCenterCrop: bool(c.do_center_crop, "do_center_crop", true),
    cropHeight,
    cropWidth,
    doRescale: bool(c.do_rescale, "do_rescale", true),
    rescaleFactor,
    doNormalize: bool(c.do_normalize, "do_normalize", true),
    imageMean: triple(c.image_mean, "image_mean", CLIP_MEAN),
    imageStd: triple(c.image_std, "image_std", CLIP_STD),
  };
}

export function loadClipProcessorConfig(path: string): ClipProcessorConfig {
  const json = readJson(path);
  try {
    return parseClipProcessorConfig(json);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

/**
 * get_resize_output_image_size(default_to_square=False): the short side becomes `size`, the long side
 * int(size * long / short). Returns [height, width].
 */
export function shortestEdgeSize(height: number, width: number, size: number): [number, number] {
  const [short, long] = width <= height ? [width, height] : [height, width];
  const newLong = Math.trunc((size * long) / short);
  return width <= height ? [newLong, size] : [size, newLong];
}

/**
 * transformers' center_crop: offsets (orig - crop) // 2 (floor division). An image smaller than the crop is
 * zero-padded by ceil((crop - orig) / 2) before it, which puts output (0, 0) at that same floored offset
 * (then negative), so every side reduces to "source = offset + index, zero outside the image".
 */
export function centerCropPadded(img: RgbImage, cropHeight: number, cropWidth: number): RgbImage {
  const y0 = Math.floor((img.height - cropHeight) / 2);
  const x0 = Math.floor((img.width - cropWidth) / 2);
  const out = new Uint8Array(cropHeight * cropWidth * 3);
  for (let y = 0; y < cropHeight; y++) {
    const sy = y0 + y;
    if (sy < 0 || sy >= img.height) continue;
    for (let x = 0; x < cropWidth; x++) {
      const sx = x0 + x;
      if (sx < 0 || sx >= img.width) continue;
      const from = (sy * img.width + sx) * 3;
      out.set(img.data.subarray(from, from + 3), (y * cropWidth + x) * 3);
    }
  }
  return { width: cropWidth, height: cropHeight, data: out };
}

export class ClipImageProcessor {
  readonly config: ClipProcessorConfig;

  constructor(config: ClipProcessorConfig) {
    this.config = config;
  }

  static fromFile(path: string): ClipImageProcessor {
    return new ClipImageProcessor(loadClipProcessorConfig(path));
  }

  /** The uint8 image after resize and crop, before any float step. */
  prepare(img: RgbImage): RgbImage {
    const c = this.config;
    let out = img;
    if (c.doResize) {
      const [h, w] = shortestEdgeSize(img.height, img.width, c.shortestEdge);
      out = resize(out, w, h, { filter: c.resample });
    }
    if (c.doCenterCrop) out = centerCropPadded(out, c.cropHeight, c.cropWidth);
    return out;
  }

  /** pixel_values for a batch: Float32Array NCHW [n, 3, H, W]. */
  preprocess(images: RgbImage[]): { data: Float32Array; shape: [number, number, number, number] } {
    if (images.length === 0) throw new Error("ClipImageProcessor: no images given");
    const c = this.config;
    const prepared = images.map((im) => this.prepare(im));
    const { width: w, height: h } = prepared[0];
    for (const p of prepared) {
      if (p.width !== w || p.height !== h) {
        throw new Error(`ClipImageProcessor: images end up ${w}x${h} and ${p.width}x${p.height}; they cannot be batched`);
      }
    }
    const mean = c.imageMean.map(Math.fround);
    const std = c.imageStd.map(Math.fround);
    const plane = w * h;
    const data = new Float32Array(prepared.length * 3 * plane);
    prepared.forEach((p, n) => {
      for (let i = 0; i < plane; i++) {
        for (let ch = 0; ch < 3; ch++) {
          // rescale: uint8 * factor in float64, then astype(float32); normalize: float32 (x - mean) / std.
          let v = p.data[i * 3 + ch];
          if (c.doRescale) v = Math.fround(v * c.rescaleFactor);
          if (c.doNormalize) v = Math.fround(Math.fround(v - mean[ch]) / std[ch]);
          data[(n * 3 + ch) * plane + i] = v;
        }
      }
    });
    return { data, shape: [prepared.length, 3, h, w] };
  }
}
