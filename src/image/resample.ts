// Pillow's Image.resize / Image.reduce for 8-bit "RGB" and "L" images, reproduced bit for bit:
// libImaging/Resample.c (separable convolution, horizontal pass first into an 8-bit temporary, then vertical;
// coefficients in 22-bit fixed point), libImaging/Geometry.c (NEAREST as an affine scale),
// libImaging/Reduce.c (box reduce by integer factors) and Image.resize's reducing_gap logic.
// Pillow passes the source box to C as 32-bit floats, so every box value goes through Math.fround.
import type { GrayImage, RgbImage } from "./rgb.js";

export type Resample = "nearest" | "bilinear" | "bicubic" | "lanczos";

/** Maps PIL's integer filter codes (as stored in preprocessor configs: 0 NEAREST, 1 LANCZOS, 2 BILINEAR, 3 BICUBIC). */
export function resampleFromPil(code: number): Resample {
  switch (code) {
    case 0: return "nearest";
    case 1: return "lanczos";
    case 2: return "bilinear";
    case 3: return "bicubic";
    default: throw new Error(`unsupported PIL resample filter ${code} (supported: 0 NEAREST, 1 LANCZOS, 2 BILINEAR, 3 BICUBIC)`);
  }
}

/** Source region (left, top, right, bottom) in input pixels, as Pillow's `box`. */
export type Box = [number, number, number, number];

export interface ResizeOptions {
  filter: Resample;
  /** Source region; defaults to the whole image. */
  box?: Box;
  /** Pillow's reducing_gap: box-reduce by an integer factor first so the last resample changes size by >= this. */
  reducingGap?: number;
}

type Image8 = RgbImage | GrayImage;

function channelsOf(img: Image8): number {
  const n = img.width * img.height;
  if (img.data.length === n * 3) return 3;
  if (img.data.length === n) return 1;
  throw new Error(`image data of ${img.data.length} bytes fits neither ${img.width}x${img.height} RGB nor L`);
}

// --- filters (Resample.c), with the same operation order so coefficients match to the last bit ---

interface Filter {
  support: number;
  weight: (x: number) => number;
}

function bilinear(x: number): number {
  if (x < 0) x = -x;
  return x < 1 ? 1 - x : 0;
}

function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

function sinc(x: number): number {
  if (x === 0) return 1;
  x = x * Math.PI;
  return Math.sin(x) / x;
}

function lanczos(x: number): number {
  return -3 <= x && x < 3 ? sinc(x) * sinc(x / 3) : 0;
}

const FILTERS: Record<Exclude<Resample, "nearest">, Filter> = {
  bilinear: { support: 1, weight: bilinear },
  bicubic: { support: 2, weight: bicubic },
  lanczos: { support: 3, weight: lanczos },
};

// 8 bits of result, 2 bits of headroom for negative lobes / overshoot.
const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;

interface Coeffs {
  ksize: number;
  /** Per output pixel: first input index, number of taps. */
  bounds: Int32Array;
  /** Fixed-point weights, ksize per output pixel. */
  kk: Int32Array;
}

function precomputeCoeffs(inSize: number, in0: number, in1: number, outSize: number, filter: Filter): Coeffs {
  // (double)(in1 - in0) / outSize with in0, in1 C floats: the difference is a float subtraction.
  const scale = Math.fround(in1 - in0) / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.weight((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x] / ww : k[x];
      // normalize_coeffs_8bpc: round half away from zero into fixed point.
      kk[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

/** clip8: the accumulator (with its +0.5 bias) shifted down and clamped, as the 1280-entry lookup does. */
function clip8(ss: number): number {
  const v = Math.floor(ss / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

interface Pixels {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

/** Horizontal pass over input rows [rowOffset, rowOffset + rows). */
function resampleHorizontal(src: Pixels, outWidth: number, rowOffset: number, rows: number, c: Coeffs): Pixels {
  const ch = src.channels;
  const out = new Uint8Array(outWidth * rows * ch);
  for (let yy = 0; yy < rows; yy++) {
    const rowBase = (yy + rowOffset) * src.width * ch;
    for (let xx = 0; xx < outWidth; xx++) {
      const xmin = c.bounds[xx * 2];
      const n = c.bounds[xx * 2 + 1];
      const kbase = xx * c.ksize;
      for (let b = 0; b < ch; b++) {
        let ss = ONE / 2;
        for (let x = 0; x < n; x++) ss += src.data[rowBase + (x + xmin) * ch + b] * c.kk[kbase + x];
        out[(yy * outWidth + xx) * ch + b] = clip8(ss);
      }
    }
  }
  return { width: outWidth, height: rows, channels: ch, data: out };
}

function resampleVertical(src: Pixels, outHeight: number, c: Coeffs): Pixels {
  const ch = src.channels;
  const rowLen = src.width * ch;
  const out = new Uint8Array(rowLen * outHeight);
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = c.bounds[yy * 2];
    const n = c.bounds[yy * 2 + 1];
    const kbase = yy * c.ksize;
    for (let i = 0; i < rowLen; i++) {
      let ss = ONE / 2;
      for (let y = 0; y < n; y++) ss += src.data[(y + ymin) * rowLen + i] * c.kk[kbase + y];
      out[yy * rowLen + i] = clip8(ss);
    }
  }
  return { width: src.width, height: outHeight, channels: ch, data: out };
}

/** ImagingResampleInner; box holds float32 values. */
function resampleConvolve(img: Pixels, xsize: number, ysize: number, filter: Filter, box: Box): Pixels {
  const needHorizontal = xsize !== img.width || box[0] !== 0 || box[2] !== xsize;
  const needVertical = ysize !== img.height || box[1] !== 0 || box[3] !== ysize;
  const vert = precomputeCoeffs(img.height, box[1], box[3], ysize, filter);
  let cur = img;
  if (needHorizontal) {
    // Only the rows the vertical pass will read are resampled horizontally.
    const first = vert.bounds[0];
    const last = vert.bounds[ysize * 2 - 2] + vert.bounds[ysize * 2 - 1];
    for (let i = 0; i < ysize; i++) vert.bounds[i * 2] -= first;
    const horiz = precomputeCoeffs(img.width, box[0], box[2], xsize, filter);
    cur = resampleHorizontal(img, xsize, first, last - first, horiz);
  }
  if (needVertical) cur = resampleVertical(cur, ysize, vert);
  return cur === img ? copyPixels(img) : cur;
}

/** COORD in Geometry.c: truncation, with every negative coordinate mapped to -1 (outside). */
function coord(v: number): number {
  return v < 0 ? -1 : Math.trunc(v);
}

/** ImagingScaleAffine: NEAREST resize as Pillow does it, sampling at accumulated pixel centres. */
function scaleNearest(img: Pixels, xsize: number, ysize: number, box: Box): Pixels {
  const ch = img.channels;
  const a0 = Math.fround(box[2] - box[0]) / xsize;
  const a4 = Math.fround(box[3] - box[1]) / ysize;
  const xin = new Int32Array(xsize);
  let xo = box[0] + a0 * 0.5;
  for (let x = 0; x < xsize; x++) {
    const xi = coord(xo);
    xin[x] = xi < img.width ? xi : -1;
    xo += a0;
  }
  const out = new Uint8Array(xsize * ysize * ch);
  let yo = box[1] + a4 * 0.5;
  for (let y = 0; y < ysize; y++) {
    const yi = coord(yo);
    yo += a4;
    // Pixels that map outside the source stay 0 (Pillow's fill).
    if (yi < 0 || yi >= img.height) continue;
    for (let x = 0; x < xsize; x++) {
      if (xin[x] < 0) continue;
      const from = (yi * img.width + xin[x]) * ch;
      out.set(img.data.subarray(from, from + ch), (y * xsize + x) * ch);
    }
  }
  return { width: xsize, height: ysize, channels: ch, data: out };
}

function copyPixels(img: Pixels): Pixels {
  return { ...img, data: img.data.slice() };
}

/** ImagingCrop for an in-bounds integer region. */
function cropPixels(img: Pixels, left: number, top: number, right: number, bottom: number): Pixels {
  const ch = img.channels;
  const w = right - left;
  const h = bottom - top;
  const out = new Uint8Array(w * h * ch);
  for (let y = 0; y < h; y++) {
    const from = ((top + y) * img.width + left) * ch;
    out.set(img.data.subarray(from, from + w * ch), y * w * ch);
  }
  return { width: w, height: h, channels: ch, data: out };
}

/** _imaging.c `_resize`: box is already float32. */
function coreResize(img: Pixels, xsize: number, ysize: number, filter: Resample, box: Box): Pixels {
  if (!Number.isInteger(xsize) || !Number.isInteger(ysize) || xsize < 1 || ysize < 1) {
    throw new Error(`resize: height and width must be positive integers, got ${xsize}x${ysize}`);
  }
  if (box[0] < 0 || box[1] < 0) throw new Error(`resize: box offset can't be negative (${box.join(", ")})`);
  if (box[2] > img.width || box[3] > img.height) {
    throw new Error(`resize: box (${box.join(", ")}) exceeds the ${img.width}x${img.height} image`);
  }
  if (box[2] - box[0] < 0 || box[3] - box[1] < 0) throw new Error(`resize: box can't be empty (${box.join(", ")})`);
  // An integer box of exactly the requested size is a plain crop.
  if (Number.isInteger(box[0]) && Math.fround(box[2] - box[0]) === xsize &&
      Number.isInteger(box[1]) && Math.fround(box[3] - box[1]) === ysize) {
    return cropPixels(img, box[0], box[1], box[0] + xsize, box[1] + ysize);
  }
  if (filter === "nearest") return scaleNearest(img, xsize, ysize, box);
  return resampleConvolve(img, xsize, ysize, FILTERS[filter], box);
}

/** Reduce.c division_UINT32: 2^32 / (256 * divider), computed in C float and truncated. */
function reduceMultiplier(divider: number): number {
  return Math.trunc(Math.fround(4294967296 / Math.fround(256 * divider)));
}

/** Sum of a block, rounded and scaled the way Reduce.c does it ((sum + n/2) * multiplier) >> 24. */
function blockMean(img: Pixels, x0: number, y0: number, w: number, h: number, band: number): number {
  const ch = img.channels;
  let ss = Math.floor((w * h) / 2);
  for (let y = y0; y < y0 + h; y++) {
    const row = y * img.width;
    for (let x = x0; x < x0 + w; x++) ss += img.data[(row + x) * ch + band];
  }
  return Math.floor((ss * reduceMultiplier(w * h)) / 16777216);
}

/** ImagingReduce over the integer box (left, top, right, bottom); partial edge blocks average what they hold. */
function reducePixels(img: Pixels, fx: number, fy: number, box: Box): Pixels {
  const [left, top] = box;
  const bw = box[2] - box[0];
  const bh = box[3] - box[1];
  const ow = Math.ceil(bw / fx);
  const oh = Math.ceil(bh / fy);
  const ch = img.channels;
  const out = new Uint8Array(ow * oh * ch);
  for (let y = 0; y < oh; y++) {
    const h = Math.min(fy, bh - y * fy);
    for (let x = 0; x < ow; x++) {
      const w = Math.min(fx, bw - x * fx);
      for (let b = 0; b < ch; b++) {
        out[(y * ow + x) * ch + b] = blockMean(img, left + x * fx, top + y * fy, w, h, b);
      }
    }
  }
  return { width: ow, height: oh, channels: ch, data: out };
}

function isFullBox(img: Pixels, box: Box): boolean {
  return box[0] === 0 && box[1] === 0 && box[2] === img.width && box[3] === img.height;
}

function toPixels(img: Image8): Pixels {
  return { width: img.width, height: img.height, channels: channelsOf(img), data: img.data };
}

function fromPixels(p: Pixels): Image8 {
  return { width: p.width, height: p.height, data: p.data };
}

/** Image.reduce(factor, box): mean of factorX x factorY blocks, output size rounded up. */
function reduceImpl(img: Pixels, factorX: number, factorY: number, box: Box): Pixels {
  if (!Number.isInteger(factorX) || !Number.isInteger(factorY) || factorX < 1 || factorY < 1) {
    throw new Error(`reduce: factors must be positive integers, got ${factorX}x${factorY}`);
  }
  if (!box.every(Number.isInteger)) throw new Error(`reduce: box must be integers, got (${box.join(", ")})`);
  if (factorX === 1 && factorY === 1 && isFullBox(img, box)) return copyPixels(img);
  if (box[0] < 0 || box[1] < 0) throw new Error(`reduce: box offset can't be negative (${box.join(", ")})`);
  if (box[2] > img.width || box[3] > img.height) {
    throw new Error(`reduce: box (${box.join(", ")}) exceeds the ${img.width}x${img.height} image`);
  }
  if (box[2] <= box[0] || box[3] <= box[1]) throw new Error(`reduce: box can't be empty (${box.join(", ")})`);
  if (factorX === 1 && factorY === 1) return cropPixels(img, box[0], box[1], box[2], box[3]);
  return reducePixels(img, factorX, factorY, box);
}

/** Pillow's Image.reduce for an RGB or L image. */
export function reduce<T extends Image8>(img: T, factorX: number, factorY: number = factorX, box?: Box): T {
  const p = toPixels(img);
  return fromPixels(reduceImpl(p, factorX, factorY, box ?? [0, 0, p.width, p.height])) as T;
}

/** Image._get_safe_box: the integer source region the resample filter can touch (its support, less half a pixel). */
function safeBox(img: Pixels, width: number, height: number, filter: Filter, box: Box): Box {
  const support = filter.support - 0.5;
  const sx = support * ((box[2] - box[0]) / width);
  const sy = support * ((box[3] - box[1]) / height);
  return [
    Math.max(0, Math.trunc(box[0] - sx)),
    Math.max(0, Math.trunc(box[1] - sy)),
    Math.min(img.width, Math.ceil(box[2] + sx)),
    Math.min(img.height, Math.ceil(box[3] + sy)),
  ];
}

/** Pillow's Image.resize((width, height), resample, box, reducing_gap) for an RGB or L image. */
export function resize<T extends Image8>(img: T, width: number, height: number, opts: ResizeOptions): T {
  let p = toPixels(img);
  let box: Box = opts.box ? [...opts.box] : [0, 0, p.width, p.height];
  if (opts.reducingGap !== undefined && !(opts.reducingGap >= 1)) {
    throw new Error(`resize: reducingGap must be 1.0 or greater, got ${opts.reducingGap}`);
  }
  if (p.width === width && p.height === height && isFullBox(p, box)) return fromPixels(copyPixels(p)) as T;
  if (opts.reducingGap !== undefined && opts.filter !== "nearest") {
    const factorX = Math.trunc((box[2] - box[0]) / width / opts.reducingGap) || 1;
    const factorY = Math.trunc((box[3] - box[1]) / height / opts.reducingGap) || 1;
    if (factorX > 1 || factorY > 1) {
      const reduceBox = safeBox(p, width, height, FILTERS[opts.filter], box);
      p = reduceImpl(p, factorX, factorY, reduceBox);
      box = [
        (box[0] - reduceBox[0]) / factorX,
        (box[1] - reduceBox[1]) / factorY,
        (box[2] - reduceBox[0]) / factorX,
        (box[3] - reduceBox[1]) / factorY,
      ];
    }
  }
  const box32 = box.map((v) => Math.fround(v)) as Box;
  return fromPixels(coreResize(p, width, height, opts.filter, box32)) as T;
}
