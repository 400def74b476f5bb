// A file of named tensors whose bytes stay in the file: a safetensors file or a torch.save zip. Each tensor is a
// byte range of the file, handed to ONNX Runtime as external data (by file offset) or read on demand.
import { openSync, readSync, closeSync, realpathSync } from "node:fs";
import { basename } from "node:path";

export type DType = "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";

export const DTYPE_BYTES: Record<DType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** Absolute byte offset of the data in the file (headers included). */
  offset: number;
  length: number;
  /** The real path of the file (symlinks resolved), so it can be given to ORT as external data. */
  file: string;
}

export class TensorFileError extends Error {}

export abstract class TensorFile {
  /** The real path (symlinks resolved). */
  readonly path: string;
  readonly tensors = new Map<string, TensorInfo>();

  protected constructor(path: string) {
    try {
      this.path = realpathSync(path);
    } catch {
      throw new TensorFileError(`${path}: file not found`);
    }
  }

  get fileName(): string {
    return basename(this.path);
  }

  /** Reads one tensor's raw bytes. */
  readBytes(name: string): Buffer {
    return readTensorBytes(this.info(name));
  }

  /** Reads one tensor as float32 (F32/F16/BF16/F64 and integer dtypes are converted). */
  readFloat32(name: string): Float32Array {
    const info = this.info(name);
    return toFloat32(readTensorBytes(info), info.dtype);
  }

  private info(name: string): TensorInfo {
    const info = this.tensors.get(name);
    if (!info) throw new TensorFileError(`${this.path}: no tensor "${name}"`);
    return info;
  }
}

export function readTensorBytes(info: TensorInfo): Buffer {
  const buf = Buffer.alloc(info.length);
  const fd = openSync(info.file, "r");
  try {
    let done = 0;
    while (done < info.length) {
      const n = readSync(fd, buf, done, info.length - done, info.offset + done);
      if (n === 0) throw new TensorFileError(`${info.file}: truncated while reading tensor "${info.name}"`);
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
