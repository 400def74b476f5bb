// What the int8 path is calibrated on: a short float32 job of our own on fixed prompts (and, for the inpainting
// decoder, a fixed synthetic image and mask), run once per model set the first time int8 is asked for. Its UNet
// calls record each convolution's input and output ranges (runtime/int8.ts).
import type { GenerateRequest } from "../request/fields.js";

/** Changing anything below needs a new id (calibrations are stored under it). */
export const CALIBRATION_ID = "k21-v1";

export const CALIBRATION_PROMPTS = [
  "a photograph of a red fox in a snowy forest, detailed fur",
  "an oil painting of a lighthouse on a cliff at sunset",
  "a bowl of fruit on a wooden table, studio lighting",
];

/** Settings of each calibration job: few steps spread over the whole schedule, a mid-sized image. */
export const CALIBRATION_JOB: GenerateRequest = {
  width: 384, height: 384, steps: 6, priorSteps: 10, seed: 0, scheduler: "ddim", numOutputs: 1, precision: "fp32",
};

/** A synthetic inpainting input: colour gradients with a bright disc, and a centred square to repaint. */
export function calibrationInpaint(width: number, height: number) {
  const image = { width, height, data: new Uint8Array(width * height * 3) };
  const mask = { width, height, data: new Uint8Array(width * height) };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const disc = (x - width / 3) ** 2 + (y - height / 3) ** 2 < (width / 6) ** 2;
      image.data[3 * i] = disc ? 240 : Math.round((255 * x) / width);
      image.data[3 * i + 1] = disc ? 220 : Math.round((255 * y) / height);
      image.data[3 * i + 2] = disc ? 60 : 128;
      mask.data[i] = Math.abs(x - width / 2) < width / 4 && Math.abs(y - height / 2) < height / 4 ? 255 : 0;
    }
  }
  return { image, mask };
}
