// Writes a safetensors file of random values without holding it in memory: the header first, then every tensor
// generated and written in chunks. Values follow PyTorch's default init ranges, uniform in ±1/sqrt(fan_in)
// (fan_in = the product of all dims but the first), so activations of a random network stay O(1) and finite in
// float16 too; norm scales (and the prior's clip_std) are 1, other 1-D tensors (biases) 0. Each tensor's values
// come from a generator seeded by its name, so a file is the same on every machine.
import { closeSync, openSync, renameSync, writeSync } from "node:fs";
import { floatToHalf } from "../src/runtime/graph.js";
import { encodeHeader } from "../src/weights/safetensors.js";

export type FloatDType = "F32" | "F16";

const BYTES: Record<FloatDType, number> = { F32: 4, F16: 2 };
const CHUNK = 1 << 20;

export function tensorBytes(shape: readonly number[], dtype: FloatDType): number {
  return shape.reduce((a, b) => a * b, 1) * BYTES[dtype];
}

function header(tensors: [string, readonly number[]][], dtype: FloatDType): Buffer {
  return encodeHeader(tensors.map(([name, shape]) => ({ name, dtype, shape, byteLength: tensorBytes(shape, dtype) })),
    { format: "pt", source: "kandinsky-ts random weights" });
}

/** Size of the file `writeRandomSafetensors` produces. */
export function randomSafetensorsSize(tensors: [string, readonly number[]][], dtype: FloatDType): number {
  return header(tensors, dtype).length + tensors.reduce((a, [, s]) => a + tensorBytes(s, dtype), 0);
}

/** How a tensor is filled: a constant, or uniform in ±bound. */
function fillRule(name: string, shape: readonly number[]): { constant: number } | { bound: number } {
  if (shape.length <= 1 || name === "clip_std" || name === "clip_mean") {
    const isScale = name === "clip_std" || (/norm/i.test(name) && name.endsWith(".weight"));
    return { constant: isScale ? 1 : 0 };
  }
  return { bound: 1 / Math.sqrt(shape.slice(1).reduce((a, b) => a * b, 1)) };
}

/** FNV-1a of the name: the seed of its values. */
function seedOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0 || 1;
}

function writeAll(fd: number, buf: Buffer, length = buf.length): void {
  for (let done = 0; done < length;) done += writeSync(fd, buf, done, length - done);
}

/** Writes `path` (through `path.partial`, renamed when complete). */
export function writeRandomSafetensors(path: string, tensors: [string, readonly number[]][], dtype: FloatDType): void {
  const partial = `${path}.partial`;
  const fd = openSync(partial, "w");
  try {
    writeAll(fd, header(tensors, dtype));
    const vals = new Float32Array(CHUNK);
    const out = dtype === "F32" ? Buffer.from(vals.buffer) : Buffer.alloc(CHUNK * 2);
    const halves = new Uint16Array(out.buffer, out.byteOffset, CHUNK);
    for (const [name, shape] of tensors) {
      const rule = fillRule(name, shape);
      let s = seedOf(name);
      let left = shape.reduce((a, b) => a * b, 1);
      while (left > 0) {
        const n = Math.min(left, CHUNK);
        if ("constant" in rule) vals.fill(rule.constant, 0, n);
        else {
          const scale = (2 * rule.bound) / 4294967296;
          for (let i = 0; i < n; i++) {
            // xorshift32
            s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
            vals[i] = (s >>> 0) * scale - rule.bound;
          }
        }
        if (dtype === "F16") for (let i = 0; i < n; i++) halves[i] = floatToHalf(vals[i]);
        writeAll(fd, out, n * BYTES[dtype]);
        left -= n;
      }
    }
  } finally {
    closeSync(fd);
  }
  renameSync(partial, path);
}
