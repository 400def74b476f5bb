// Writes a safetensors file of random values without holding it in memory: the header first, then every tensor
// generated and written in chunks. Values follow PyTorch's default init ranges, uniform in ±1/sqrt(fan_in)
// (fan_in = the product of all dims but the first), so activations of a random network stay O(1) and finite in
// float16 too; norm scales (and the prior's clip_std) are 1, other 1-D tensors (biases) 0. Each tensor's values
// come from a generator seeded by its name, so a file is the same on every machine.
import { closeSync, openSync, renameSync, writeSync } from "node:fs";

export type FloatDType = "F32" | "F16";

const BYTES: Record<FloatDType, number> = { F32: 4, F16: 2 };
const CHUNK = 1 << 20;

export function tensorBytes(shape: readonly number[], dtype: FloatDType): number {
  return shape.reduce((a, b) => a * b, 1) * BYTES[dtype];
}

/** The header bytes (length prefix included) for tensors written in the given order. */
function header(tensors: [string, readonly number[]][], dtype: FloatDType): Buffer {
  const h: Record<string, unknown> = { __metadata__: { format: "pt", source: "kandinsky-ts random weights" } };
  let off = 0;
  for (const [name, shape] of tensors) {
    const n = tensorBytes(shape, dtype);
    h[name] = { dtype, shape, data_offsets: [off, off + n] };
    off += n;
  }
  const json = Buffer.from(JSON.stringify(h), "utf8");
  const padded = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(padded.length));
  return Buffer.concat([len, padded]);
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

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → IEEE half, round to nearest even (F. Giesen's float_to_half_fast3). */
function toHalf(x: number): number {
  f32[0] = x;
  let u = u32[0];
  const sign = (u >>> 16) & 0x8000;
  u &= 0x7fffffff;
  if (u >= 0x47800000) return sign | (u > 0x7f800000 ? 0x7e00 : 0x7c00);
  if (u < 0x38800000) {
    // Subnormal half: let float addition do the rounding.
    f32[0] = x < 0 ? -x : x;
    f32[0] += 0.5;
    return sign | (u32[0] - 0x3f000000);
  }
  return sign | ((u - 0x38000000 + 0xfff + ((u >>> 13) & 1)) >>> 13);
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
        if (dtype === "F16") for (let i = 0; i < n; i++) halves[i] = toHalf(vals[i]);
        writeAll(fd, out, n * BYTES[dtype]);
        left -= n;
      }
    }
  } finally {
    closeSync(fd);
  }
  renameSync(partial, path);
}
