// The pipelines' pixel conversions, in the reference's float32 arithmetic (diffusers 0.24 Kandinsky 2.1):
// decoder output -> image_np -> uint8, input image -> [-1, 1] tensor, PIL mask -> float mask (1 = repaint).
import type { GrayImage, RgbImage } from "./rgb.js";
import { resize } from "./resample.js";
import { roundHalfEven } from "../f32/scalar.js";

export interface Tensor4 {
  data: Float32Array;
  shape: [number, number, number, number];
}

/** numpy's np.round: half to even. */
/**
 * Decoder postprocessing for output_type "np": clamp(raw * 0.5 + 0.5, 0, 1) in float32, NCHW -> NHWC.
 * (x * 0.5 is exact; the + 0.5 rounds once to float32, as torch does.)
 */
export function decoderOutputToImageNp(raw: { data: Float32Array; shape: readonly number[] }): Tensor4 {
  if (raw.shape.length !== 4) throw new Error(`decoder output: expected NCHW, got shape [${raw.shape.join(", ")}]`);
  const [n, c, h, w] = raw.shape;
  if (raw.data.length !== n * c * h * w) {
    throw new Error(`decoder output: ${raw.data.length} values do not fill shape [${raw.shape.join(", ")}]`);
  }
  const out = new Float32Array(raw.data.length);
  const plane = h * w;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const src = (b * c + ch) * plane;
      for (let i = 0; i < plane; i++) {
        const v = Math.fround(raw.data[src + i] * 0.5 + 0.5);
        out[(b * plane + i) * c + ch] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
    }
  }
  return { data: out, shape: [n, h, w, c] };
}

/** numpy_to_pil: (image_np * 255).round().astype(uint8), the product in float32, numpy's half-to-even round. */
export function imageNpToUint8(np: Tensor4): { data: Uint8Array; shape: [number, number, number, number] } {
  const out = new Uint8Array(np.data.length);
  for (let i = 0; i < out.length; i++) out[i] = roundHalfEven(Math.fround(np.data[i] * 255));
  return { data: out, shape: np.shape };
}

/** Splits uint8 NHWC (C = 3) into images. */
export function uint8ToRgbImages(u8: { data: Uint8Array; shape: [number, number, number, number] }): RgbImage[] {
  const [n, h, w, c] = u8.shape;
  if (c !== 3) throw new Error(`uint8ToRgbImages: expected 3 channels, got ${c}`);
  const size = h * w * 3;
  return Array.from({ length: n }, (_, b) => ({ width: w, height: h, data: u8.data.slice(b * size, (b + 1) * size) }));
}

/**
 * img2img / inpaint image preparation: PIL resize to (width, height) with BICUBIC and reducing_gap=1, then
 * float32 x / 127.5 - 1, as a [1, 3, height, width] tensor.
 */
export function prepareImageTensor(img: RgbImage, width: number, height: number): Tensor4 {
  const r = resize(img, width, height, { filter: "bicubic", reducingGap: 1 });
  const plane = width * height;
  const data = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let ch = 0; ch < 3; ch++) data[ch * plane + i] = Math.fround(Math.fround(r.data[i * 3 + ch] / 127.5) - 1);
  }
  return { data, shape: [1, 3, height, width] };
}

/**
 * The inpaint mask from a PIL "L" image (white = repaint): LANCZOS resize to (width, height) (no reducing
 * gap), then float32 v / 255 — the height x width float mask the pipeline thresholds and inverts
 * (pipelines/latents.ts inpaintMask). `invert` takes the original implementation's masks (black = repaint).
 */
export function prepareInpaintMask(mask: GrayImage, width: number, height: number, invert = false): Float32Array {
  const r = resize(mask, width, height, { filter: "lanczos" });
  const f = new Float32Array(r.data.length);
  for (let i = 0; i < f.length; i++) f[i] = Math.fround((invert ? 255 - r.data[i] : r.data[i]) / 255);
  return f;
}
