// safetensors: 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}},
// then the raw little-endian data. Only the header is read here.
import { openSync, readSync, closeSync, fstatSync } from "node:fs";
import { TensorFile, DTYPE_BYTES, type DType } from "./tensor-file.js";

export class SafetensorsError extends Error {}

const MAX_HEADER = 100 * 1024 * 1024;

export class SafetensorsFile extends TensorFile {
  readonly metadata: Record<string, string> = {};

  constructor(path: string) {
    super(path);
    const real = this.path;
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
