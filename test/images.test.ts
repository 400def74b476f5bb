import { roundHalfEven } from "../src/f32/scalar.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import sharp from "sharp";
import { CaseSet } from "../src/parity/cases.js";
import { runImageProcessorCase } from "../src/parity/images.js";
import { centerCropPadded, shortestEdgeSize } from "../src/image/clip-processor.js";
import {
  decoderOutputToImageNp, imageNpToUint8, prepareImageTensor, prepareInpaintMask,
  type Tensor4, uint8ToRgbImages,
} from "../src/image/convert.js";
import { decodeImage, decodeMask, encodeImage } from "../src/image/io.js";
import { reduce, resize, type Resample } from "../src/image/resample.js";
import { type GrayImage, type RgbImage, cropCenter, cropTopLeft, grayImage, rgbImage, rgbToLuma } from "../src/image/rgb.js";
import { fixture } from "./fixtures.js";

const tiny = fixture("tiny-a");

const gray = (width: number, height: number, values: number[]): GrayImage =>
  grayImage(width, height, Uint8Array.from(values));

/** A deterministic, non-smooth RGB test image. */
function pattern(width: number, height: number): RgbImage {
  const img = rgbImage(width, height);
  for (let i = 0; i < img.data.length; i++) img.data[i] = (i * 7919 + (i >> 5) * 31) & 255;
  return img;
}

test("CLIP image-processor cases reproduce pixel_values exactly", () => {
  const set = new CaseSet(tiny);
  for (const id of ["clip_image_processor.portrait", "clip_image_processor.landscape"]) {
    const r = runImageProcessorCase(set, set.get(id));
    assert.equal(r.status, "PASS", `${id}: ${r.detail}`);
    assert.equal(r.maxAbs, 0, id);
  }
});

test("shortest-edge size and transformers' center crop with padding", () => {
  assert.deepEqual(shortestEdgeSize(40, 52, 32), [32, 41]); // int(32 * 52 / 40) = 41
  assert.deepEqual(shortestEdgeSize(64, 21, 32), [97, 32]);
  assert.deepEqual(shortestEdgeSize(32, 32, 32), [32, 32]);
  // 3x1 into 2x4: columns (3-2)//2 = 0 -> 0,1; rows padded by ceil(3/2) = 2 on top, 1 below.
  const img = rgbImage(3, 1, Uint8Array.from([1, 1, 1, 2, 2, 2, 3, 3, 3]));
  const out = centerCropPadded(img, 4, 2);
  assert.deepEqual(Array.from(out.data), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 0, 0, 0, 0, 0]);
});

test("numpy round half to even and the uint8 conversion", () => {
  assert.deepEqual([0.5, 1.5, 2.5, 126.5, 253.5, 254.5, 3.4999, 3.5001, -1.5, -2.5].map(roundHalfEven), [0, 2, 2, 126, 254, 254, 3, 4, -2, -2]);
  // 0.5 * 255 = 127.5 -> 128 (even); 1/255 * 255 rounds to 1 in float32.
  const np: Tensor4 = { data: Float32Array.from([0, 0.5, 1, Math.fround(1 / 255)]), shape: [1, 1, 4, 1] };
  assert.deepEqual(Array.from(imageNpToUint8(np).data), [0, 128, 255, 1]);
});

test("decoder output conversions match the fixture's image_np and image_uint8 exactly", () => {
  const set = new CaseSet(tiny);
  for (const id of ["pipeline.text2img.ddim", "pipeline.text2img.ddpm", "pipeline.inpaint.ddim"]) {
    const c = set.get(id);
    const raw = set.tensor(c.outputs.image_raw);
    const np = decoderOutputToImageNp(raw);
    const expectedNp = set.tensor(c.outputs.image_np);
    assert.deepEqual(np.shape, expectedNp.shape, id);
    assert.deepEqual(np.data, expectedNp.data, id);
    const u8 = imageNpToUint8(np);
    assert.deepEqual(Float32Array.from(u8.data), set.tensor(c.outputs.image_uint8).data, id);
    const images = uint8ToRgbImages(u8);
    assert.equal(images.length, u8.shape[0]);
    assert.deepEqual([images[0].height, images[0].width], u8.shape.slice(1, 3));
    assert.deepEqual(images[images.length - 1].data, u8.data.subarray(u8.data.length - images[0].data.length));
  }
});

test("img2img image tensor and inpaint mask preparation", () => {
  const img = rgbImage(2, 1, Uint8Array.from([0, 127, 255, 64, 128, 192]));
  const t = prepareImageTensor(img, 2, 1);
  assert.deepEqual(t.shape, [1, 3, 1, 2]);
  const f = (x: number) => Math.fround(Math.fround(x / 127.5) - 1);
  assert.deepEqual(Array.from(t.data), [f(0), f(64), f(127), f(128), f(255), f(192)]);
  assert.equal(t.data[0], -1);
  assert.equal(t.data[4], 1);
  // White = repaint = 1; the original implementation's masks (black = repaint) are inverted.
  const f255 = (v: number) => Math.fround(v / 255);
  assert.deepEqual(Array.from(prepareInpaintMask(gray(4, 1, [0, 127, 128, 255]), 4, 1)), [0, f255(127), f255(128), 1]);
  assert.deepEqual(Array.from(prepareInpaintMask(gray(4, 1, [0, 127, 128, 255]), 4, 1, true)), [1, f255(128), f255(127), 0]);
});

test("resize: identity, constants, and values derived from Pillow's fixed-point filters", () => {
  const img = pattern(7, 5);
  for (const filter of ["nearest", "bilinear", "bicubic", "lanczos"] as Resample[]) {
    assert.deepEqual(resize(img, 7, 5, { filter }).data, img.data, `identity ${filter}`);
    // Normalised coefficients keep a flat image flat, up or down, with or without a reducing gap.
    const flat = rgbImage(9, 6, new Uint8Array(9 * 6 * 3).fill(201));
    for (const [w, h] of [[4, 3], [20, 11], [9, 2], [1, 1]]) {
      for (const reducingGap of [undefined, 1, 2]) {
        const out = resize(flat, w, h, { filter, reducingGap });
        assert.equal(out.data.length, w * h * 3);
        assert.ok(out.data.every((v) => v === 201), `${filter} ${w}x${h} gap ${reducingGap}`);
      }
    }
  }
  // [0, 255] -> 4 px. Bicubic (a = -0.5): pixel 1 takes taps 0,1 with weights 0.8671875, 0.2265625,
  // normalised to 0.2071428..., i.e. 868818 / 2^22; (2^21 + 255 * 868818) >> 22 = 53; pixel 2 mirrors it
  // (3325486: 202); the outer pixels overshoot and clip.
  const step = gray(2, 1, [0, 255]);
  assert.deepEqual(Array.from(resize(step, 4, 1, { filter: "bicubic" }).data), [0, 53, 202, 255]);
  // Bilinear: weights 0.75 / 0.25; 255 * 0.25 = 63.75 rounds (+0.5 in fixed point) to 64, 191.25 to 191.
  assert.deepEqual(Array.from(resize(step, 4, 1, { filter: "bilinear" }).data), [0, 64, 191, 255]);
  // Nearest samples at x = 0.25, 0.75, 1.25, 1.75.
  assert.deepEqual(Array.from(resize(step, 4, 1, { filter: "nearest" }).data), [0, 0, 255, 255]);
});

test("2-D resizes match Pillow 9.4's output for a 5x4 image", () => {
  // Expected values are what PIL.Image.resize returned for this image; they pin the pass order, the 8-bit
  // intermediate, the box handling and the reducing_gap path together.
  const img = gray(5, 4, Array.from({ length: 20 }, (_, i) => ((i % 5) * 53 + Math.floor(i / 5) * 97) % 256));
  const run = (w: number, h: number, opts: Parameters<typeof resize>[3]) => Array.from(resize(img, w, h, opts).data);
  assert.deepEqual(run(3, 2, { filter: "lanczos" }), [95, 123, 102, 145, 124, 152]);
  assert.deepEqual(run(7, 6, { filter: "bicubic" }), [
    0, 20, 61, 100, 150, 198, 225, 39, 65, 116, 161, 97, 96, 134, 113, 144, 183, 188, 43, 12, 57,
    190, 235, 204, 59, 64, 103, 134, 113, 151, 150, 86, 131, 182, 210, 22, 49, 97, 147, 186, 227, 255,
  ]);
  assert.deepEqual(run(2, 2, { filter: "bicubic" }), [105, 113, 134, 142]);
  assert.deepEqual(run(2, 2, { filter: "bicubic", reducingGap: 1 }), [82, 125, 133, 152]);
  assert.deepEqual(run(3, 3, { filter: "bilinear", box: [0.5, 0.25, 4.75, 3.5] }), [68, 122, 136, 166, 121, 66, 149, 114, 170]);
});

test("reduce and reducing_gap follow Pillow's box reduce", () => {
  // 2x2 blocks: (10+20+50+62 + 2) / 4 = 36, (30+41+70+80 + 2) / 4 = 55; the odd last column is a 1x2 block (7+9+1) / 2 = 8.
  const img = gray(5, 2, [10, 20, 30, 41, 7, 50, 62, 70, 80, 9]);
  const r = reduce(img, 2);
  assert.deepEqual([r.width, r.height], [3, 1]);
  assert.deepEqual(Array.from(r.data), [36, 55, 8]);
  // 4x4 -> 1x1 with reducing_gap 1 reduces by 4 first, then the 1x1 box is a plain crop: the rounded mean
  // of 0, 10, ..., 150 is (1200 + 8) >> 4 = 75.
  const ramp = gray(4, 4, Array.from({ length: 16 }, (_, i) => i * 10));
  assert.deepEqual(Array.from(resize(ramp, 1, 1, { filter: "bicubic", reducingGap: 1 }).data), [75]);
  assert.throws(() => resize(ramp, 2, 2, { filter: "bicubic", reducingGap: 0.5 }), /reducingGap/);
});

test("RGB to L uses Pillow's 601-2 fixed-point luma", () => {
  const img = rgbImage(5, 1, Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 77, 77, 77]));
  assert.deepEqual(Array.from(rgbToLuma(img).data), [76, 150, 29, 255, 77]);
});

test("crop helpers", () => {
  const img = pattern(6, 4);
  const tl = cropTopLeft(img, 4, 3);
  assert.deepEqual(Array.from(tl.data.subarray(0, 3)), Array.from(img.data.subarray(0, 3)));
  const c = cropCenter(img, 3, 2); // offsets (1, 1)
  const at = (im: RgbImage, x: number, y: number) => Array.from(im.data.subarray((y * im.width + x) * 3, (y * im.width + x) * 3 + 3));
  assert.deepEqual(at(c, 0, 0), at(img, 1, 1));
  assert.deepEqual(at(c, 2, 1), at(img, 3, 2));
  assert.throws(() => cropCenter(img, 7, 1), /does not fit/);
});

test("PNG round trip is lossless", async () => {
  const img = pattern(13, 9);
  const back = await decodeImage(await encodeImage(img, "png"));
  assert.deepEqual([back.width, back.height], [13, 9]);
  assert.deepEqual(back.data, img.data);
});

test("JPEG and WebP honour quality", async () => {
  const img = pattern(64, 48);
  const meanError = (a: RgbImage) => a.data.reduce((s, v, i) => s + Math.abs(v - img.data[i]), 0) / a.data.length;
  for (const format of ["jpeg", "webp"] as const) {
    const low = await encodeImage(img, format, 5);
    const high = await encodeImage(img, format, 100);
    assert.ok(low.length < high.length, `${format}: q5 ${low.length} bytes, q100 ${high.length}`);
    const [dl, dh] = [await decodeImage(low), await decodeImage(high)];
    assert.ok(meanError(dh) < meanError(dl), `${format}: q100 error ${meanError(dh)}, q5 error ${meanError(dl)}`);
  }
  await assert.rejects(encodeImage(img, "jpeg", 0), /quality/);
});

test("EXIF orientation is applied", async () => {
  // Stored 16x8: left half red, right half blue. Orientation 6 means "rotate 90 degrees clockwise to view",
  // which makes it 8x16 with red on top.
  const img = rgbImage(16, 8);
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < 16; x++) img.data.set(x < 8 ? [255, 0, 0] : [0, 0, 255], (y * 16 + x) * 3);
  }
  const jpeg = await sharp(img.data, { raw: { width: 16, height: 8, channels: 3 } })
    .jpeg({ quality: 100 }).withMetadata({ orientation: 6 }).toBuffer();
  const out = await decodeImage(jpeg);
  assert.deepEqual([out.width, out.height], [8, 16]);
  const px = (x: number, y: number) => out.data.subarray((y * 8 + x) * 3, (y * 8 + x) * 3 + 3);
  assert.ok(px(4, 2)[0] > 200 && px(4, 2)[2] < 60, `top should be red, got ${Array.from(px(4, 2))}`);
  assert.ok(px(4, 13)[2] > 200 && px(4, 13)[0] < 60, `bottom should be blue, got ${Array.from(px(4, 13))}`);
});

test("alpha is flattened onto white; masks ignore alpha", async () => {
  const rgba = Uint8Array.from([255, 0, 0, 0, 0, 0, 255, 255, 0, 0, 0, 51]);
  const png = await sharp(rgba, { raw: { width: 3, height: 1, channels: 4 } }).png().toBuffer();
  const img = await decodeImage(png);
  assert.deepEqual(Array.from(img.data.subarray(0, 6)), [255, 255, 255, 0, 0, 255]);
  // 20% black over white.
  assert.ok(Array.from(img.data.subarray(6)).every((v) => Math.abs(v - 204) <= 1), `got ${Array.from(img.data.subarray(6))}`);
  assert.deepEqual(Array.from((await decodeMask(png)).data), [76, 29, 0]);
});

test("decodeMask keeps grey levels exactly", async () => {
  const levels = Uint8Array.from({ length: 256 }, (_, i) => i);
  const png = await sharp(levels, { raw: { width: 16, height: 16, channels: 1 } }).toColourspace("b-w").png().toBuffer();
  assert.equal((await sharp(png).metadata()).channels, 1);
  const mask = await decodeMask(png);
  assert.deepEqual([mask.width, mask.height], [16, 16]);
  assert.deepEqual(mask.data, levels);
});

test("unreadable input gives a clear error", async () => {
  await assert.rejects(decodeImage(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8])), /decodeImage: cannot decode image \(8-byte buffer\)/);
  await assert.rejects(decodeMask("/nonexistent/mask.png"), /decodeMask: cannot decode image \(\/nonexistent\/mask\.png\)/);
});
