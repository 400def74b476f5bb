// In-memory 8-bit images: the forms PIL's "RGB" and "L" modes take, row-major, no padding.

/** An 8-bit RGB image, data = H x W x 3. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** An 8-bit single-channel image (PIL mode "L"), data = H x W. */
export interface GrayImage {
  width: number;
  height: number;
  data: Uint8Array;
}

function checkSize(width: number, height: number, what: string): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`${what}: size must be positive integers, got ${width}x${height}`);
  }
}

/** Wraps (or allocates, zero-filled) an RGB image, checking that data holds exactly H x W x 3 bytes. */
export function rgbImage(width: number, height: number, data?: Uint8Array): RgbImage {
  checkSize(width, height, "rgbImage");
  const n = width * height * 3;
  if (data && data.length !== n) {
    throw new Error(`rgbImage: ${width}x${height} RGB needs ${n} bytes, got ${data.length}`);
  }
  return { width, height, data: data ?? new Uint8Array(n) };
}

/** Wraps (or allocates, zero-filled) a single-channel image, checking that data holds exactly H x W bytes. */
export function grayImage(width: number, height: number, data?: Uint8Array): GrayImage {
  checkSize(width, height, "grayImage");
  const n = width * height;
  if (data && data.length !== n) {
    throw new Error(`grayImage: ${width}x${height} L needs ${n} bytes, got ${data.length}`);
  }
  return { width, height, data: data ?? new Uint8Array(n) };
}

/**
 * PIL's convert("L") of an RGB image: ITU-R 601-2 luma in Pillow's 16-bit fixed point
 * (299/587/114 per mille as 19595/38470/7471 of 65536, +0.5 then truncate), so grey pixels keep their level.
 */
export function rgbToLuma(img: RgbImage): GrayImage {
  const out = grayImage(img.width, img.height);
  const src = img.data;
  for (let i = 0, j = 0; i < out.data.length; i++, j += 3) {
    out.data[i] = (src[j] * 19595 + src[j + 1] * 38470 + src[j + 2] * 7471 + 0x8000) >>> 16;
  }
  return out;
}

/** The region [left, left+width) x [top, top+height); it must lie inside the image. */
export function crop(img: RgbImage, left: number, top: number, width: number, height: number): RgbImage {
  checkSize(width, height, "crop");
  if (!Number.isInteger(left) || !Number.isInteger(top) || left < 0 || top < 0 ||
      left + width > img.width || top + height > img.height) {
    throw new Error(
      `crop: region ${width}x${height} at (${left},${top}) does not fit in a ${img.width}x${img.height} image`,
    );
  }
  const out = rgbImage(width, height);
  const rowBytes = width * 3;
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * img.width + left) * 3;
    out.data.set(img.data.subarray(from, from + rowBytes), y * rowBytes);
  }
  return out;
}

/**
 * Keeps the top-left width x height: what the original Kandinsky 2.1 code does with an image decoded at the
 * size rounded up by get_new_h_w (`samples[:, :, :h, :w]` in ai-forever/Kandinsky-2 kandinsky2_1_model.py).
 */
export function cropTopLeft(img: RgbImage, width: number, height: number): RgbImage {
  return crop(img, 0, 0, width, height);
}

/** Keeps the centred width x height (the odd pixel of an odd margin goes to the right / bottom). */
export function cropCenter(img: RgbImage, width: number, height: number): RgbImage {
  return crop(img, Math.floor((img.width - width) / 2), Math.floor((img.height - height) / 2), width, height);
}
