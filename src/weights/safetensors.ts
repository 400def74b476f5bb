// safetensors: 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}},
// then the raw little-endian data. We read only the header here; tensor bytes are either handed to ONNX
// Runtime as external data (by file offset) or read on demand.
import { openSync, readSync, closeSync, fstatSync, realpathSync } from "node:fs";
import { basename } from "node:path";

export type DType = "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";

export const DTYPE_BYTES: Record<DType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** Absolute byte offset of the data in the file (header included). */
  offset: number;
  length: number;
  /** The real path of the file (symlinks resolved), so it can be given to ORT as external data. */
  file: string;
}

export class SafetensorsError extends Error {}

const MAX_HEADER = 100 * 1024 * 1024;

export class SafetensorsFile {
  readonly path: string;
  readonly tensors = new Map<string, TensorInfo>();
  readonly metadata: Record<string, string> = {};

  constructor(path: string) {
    let real: string;
    try {
      real = realpathSync(path);
    } catch {
      throw new SafetensorsError(`${path}: file not found`);
    }
    this.path = real;
    const fd = openSync(real, "r");
    try {
      const size = fstatSync(fd).size;
      const fail = (what: string) => new SafetensorsError(`${path}: ${what}`);
      if (size < 8) throw fail(`truncated: ${size} bytes, too short for a safetensors header`);
      const lenBuf = Buffer.alloc(8);
      readSync(fd, lenBuf, 0, 8, 0);
      const headerLen = Number(lenBuf.readBigUInt64LE(0));
      if (headerLen > MAX_HEADER || 8 + headerLen > size) {
        throw fail(`corrupt header length ${headerLen} (file is ${size} bytes)`);
      }
      const hbuf = Buffer.alloc(headerLen);
      readSync(fd, hbuf, 0, headerLen, 8);
      let header: Record<string, unknown>;
      try {
        header = JSON.parse(hbuf.toString("utf8"));
      } catch (e) {
        throw fail(`corrupt header: not valid JSON (${(e as Error).message})`);
      }
      if (typeof header !== "object" || header === null || Array.isArray(header)) throw fail("corrupt header: not an object");
      const dataStart = 8 + headerLen;
      const dataLen = size - dataStart;
      for (const [name, raw] of Object.entries(header)) {
        if (name === "__metadata__") {
          Object.assign(this.metadata, raw);
          continue;
        }
        const t = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
        if (typeof t?.dtype !== "string" || !(t.dtype in DTYPE_BYTES)) {
          throw fail(`tensor "${name}": unsupported dtype ${JSON.stringify(t?.dtype)}`);
        }
        const dtype = t.dtype as DType;
        if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0)) {
          throw fail(`tensor "${name}": invalid shape ${JSON.stringify(t.shape)}`);
        }
        const offs = t.data_offsets;
        if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0) || offs[1] < offs[0]) {
          throw fail(`tensor "${name}": invalid data_offsets ${JSON.stringify(offs)}`);
        }
        const shape = t.shape as number[];
        const expected = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
        if (offs[1] - offs[0] !== expected) {
          throw fail(`tensor "${name}": data_offsets span ${offs[1] - offs[0]} bytes, shape ${JSON.stringify(shape)} ${dtype} needs ${expected}`);
        }
        if (offs[1] > dataLen) {
          throw fail(`truncated: tensor "${name}" ends at byte ${dataStart + offs[1]} but the file has ${size}`);
        }
        this.tensors.set(name, { name, dtype, shape, offset: dataStart + offs[0], length: expected, file: real });
      }
    } finally {
      closeSync(fd);
    }
  }

  get fileName(): string {
    return basename(this.path);
  }

  /** Reads one tensor's raw bytes. */
  readBytes(name: string): Buffer {
    const info = this.tensors.get(name);
    if (!info) throw new SafetensorsError(`${this.path}: no tensor "${name}"`);
    return readTensorBytes(info);
  }

  /** Reads one tensor as float32 (F32/F16/BF16/F64 and integer dtypes are converted). */
  readFloat32(name: string): Float32Array {
    const info = this.tensors.get(name);
    if (!info) throw new SafetensorsError(`${this.path}: no tensor "${name}"`);
    return toFloat32(readTensorBytes(info), info.dtype);
  }
}

export function readTensorBytes(info: TensorInfo): Buffer {
  const buf = Buffer.alloc(info.length);
  const fd = openSync(info.file, "r");
  try {
    let done = 0;
    while (done < info.length) {
      const n = readSync(fd, buf, done, info.length - done, info.offset + done);
      if (n === 0) throw new SafetensorsError(`${info.file}: truncated while reading tensor "${info.name}"`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return buf;
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Converts little-endian raw tensor bytes of any supported dtype to float32. */
export function toFloat32(buf: Buffer, dtype: DType): Float32Array {
  const n = buf.length / DTYPE_BYTES[dtype];
  const out = new Float32Array(n);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  switch (dtype) {
    case "F32": for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true); break;
    case "F64": for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true); break;
    case "F16": for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(i * 2, true)); break;
    case "BF16": {
      const u = new Uint32Array(1), f = new Float32Array(u.buffer);
      for (let i = 0; i < n; i++) { u[0] = dv.getUint16(i * 2, true) << 16; out[i] = f[0]; }
      break;
    }
    case "I64": for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(i * 8, true)); break;
    case "I32": for (let i = 0; i < n; i++) out[i] = dv.getInt32(i * 4, true); break;
    case "I16": for (let i = 0; i < n; i++) out[i] = dv.getInt16(i * 2, true); break;
    case "I8": for (let i = 0; i < n; i++) out[i] = dv.getInt8(i); break;
    case "U8": case "BOOL": for (let i = 0; i < n; i++) out[i] = dv.getUint8(i); break;
  }
  return out;
}

/** The header of a safetensors file (length prefix included) for tensors stored in this order. */
export function encodeHeader(tensors: { name: string; dtype: DType; shape: readonly number[]; byteLength: number }[],
                             metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.byteLength] };
    off += t.byteLength;
  }
  const raw = Buffer.from(JSON.stringify(header), "utf8");
  const padded = Buffer.concat([raw, Buffer.alloc((8 - (raw.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(padded.length));
  return Buffer.concat([len, padded]);
}

/** A whole safetensors file from in-memory tensors (tests, small files). */
export function encodeSafetensors(
  tensors: { name: string; dtype: DType; shape: number[]; data: Uint8Array }[],
  metadata?: Record<string, string>,
): Buffer {
  const head = encodeHeader(tensors.map((t) => ({ ...t, byteLength: t.data.byteLength })), metadata);
  return Buffer.concat([head, ...tensors.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))]);
}
