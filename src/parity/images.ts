// Parity runner for the CLIP image-processor cases: raw uint8 HxWx3 image -> pixel_values.
import { join } from "node:path";
import type { Case, CaseSet } from "./cases.js";
import { type CaseResult, compare } from "./report.js";
import { ClipImageProcessor } from "../image/clip-processor.js";
import { rgbImage } from "../image/rgb.js";

export function runImageProcessorCase(set: CaseSet, c: Case): CaseResult {
  const input = c.inputs.image_uint8_hwc;
  const expected = c.outputs.pixel_values;
  if (!input || !expected) {
    return { status: "SKIP", detail: "case lacks inputs.image_uint8_hwc or outputs.pixel_values" };
  }
  const [h, w, ch] = input.shape;
  if (ch !== 3) return { status: "FAIL", detail: `image_uint8_hwc has ${ch} channels, expected 3` };
  const raw = set.tensor(input).data;
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const v = raw[i];
    if (!(Number.isInteger(v) && v >= 0 && v <= 255)) {
      return { status: "FAIL", detail: `image_uint8_hwc[${i}] = ${v} is not a uint8 value` };
    }
    bytes[i] = v;
  }
  const processor = ClipImageProcessor.fromFile(join(set.dir, c.target, "preprocessor_config.json"));
  const actual = processor.preprocess([rgbImage(w, h, bytes)]);
  const atol = c.suggested_tolerance?.atol ?? 1e-5;
  return compare([{ name: "pixel_values", expected: set.tensor(expected), actual, atol }], atol);
}
