// The central directory of a zip file (zip64 included), enough to find where each member's bytes lie.
// Only the directory and the local headers are read; members are never extracted.
import { readSync, fstatSync } from "node:fs";

export class ZipError extends Error {}

export interface ZipEntry {
  name: string;
  /** 0 = stored (uncompressed); anything else is compressed. */
  method: number;
  compressedSize: number;
  size: number;
  /** Absolute file offset of the member's first data byte (after its local header). */
  dataOffset: number;
}

const EOCD = 0x06054b50, EOCD64 = 0x06064b50, EOCD64_LOCATOR = 0x07064b50;
const CENTRAL = 0x02014b50, LOCAL = 0x04034b50;
const EOCD_SIZE = 22, MAX_COMMENT = 0xffff;
const U16_MAX = 0xffff, U32_MAX = 0xffffffff;
/** Refuse absurd directories before allocating for them. */
const MAX_DIRECTORY = 256 * 1024 * 1024;

function readAt(fd: number, offset: number, length: number, fail: (what: string) => ZipError): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, offset + done);
    if (n === 0) throw fail(`truncated: needs bytes up to ${offset + length}`);
    done += n;
  }
  return buf;
}

/** A little-endian u64 that must fit a JS number (any real file offset does). */
function u64(buf: Buffer, at: number, fail: (what: string) => ZipError): number {
  const v = buf.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(`corrupt zip64 field ${v}`);
  return Number(v);
}

/** Reads the member list of the zip open as `fd`; `path` names the file in errors. */
export function readZipEntries(fd: number, path: string): Map<string, ZipEntry> {
  const fail = (what: string) => new ZipError(`${path}: ${what}`);
  const size = fstatSync(fd).size;
  if (size < EOCD_SIZE) throw fail(`not a zip file (${size} bytes)`);
  const tailLen = Math.min(size, EOCD_SIZE + MAX_COMMENT);
  const tail = readAt(fd, size - tailLen, tailLen, fail);
  let at = -1;
  for (let i = tailLen - EOCD_SIZE; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD && i + EOCD_SIZE + tail.readUInt16LE(i + 20) <= tailLen) { at = i; break; }
  }
  if (at < 0) throw fail("not a zip file or truncated: no end-of-central-directory record");
  const eocdOffset = size - tailLen + at;
  let count = tail.readUInt16LE(at + 10);
  let dirSize = tail.readUInt32LE(at + 12);
  let dirOffset = tail.readUInt32LE(at + 16);
  if (count === U16_MAX || dirSize === U32_MAX || dirOffset === U32_MAX) {
    if (eocdOffset < 20) throw fail("corrupt zip64: no end-of-central-directory locator");
    const loc = readAt(fd, eocdOffset - 20, 20, fail);
    if (loc.readUInt32LE(0) !== EOCD64_LOCATOR) throw fail("corrupt zip64: no end-of-central-directory locator");
    const recOffset = u64(loc, 8, fail);
    if (recOffset + 56 > eocdOffset) throw fail(`corrupt zip64: record offset ${recOffset}`);
    const rec = readAt(fd, recOffset, 56, fail);
    if (rec.readUInt32LE(0) !== EOCD64) throw fail("corrupt zip64 end-of-central-directory record");
    count = u64(rec, 32, fail);
    dirSize = u64(rec, 40, fail);
    dirOffset = u64(rec, 48, fail);
  }
  if (dirSize > MAX_DIRECTORY || dirOffset + dirSize > eocdOffset) {
    throw fail(`corrupt central directory (${dirSize} bytes at ${dirOffset}, file is ${size} bytes)`);
  }
  const dir = readAt(fd, dirOffset, dirSize, fail);
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > dir.length || dir.readUInt32LE(p) !== CENTRAL) throw fail(`corrupt central directory at entry ${i}`);
    const flags = dir.readUInt16LE(p + 8);
    const method = dir.readUInt16LE(p + 10);
    let compressedSize = dir.readUInt32LE(p + 20);
    let usize = dir.readUInt32LE(p + 24);
    const nameLen = dir.readUInt16LE(p + 28), extraLen = dir.readUInt16LE(p + 30), commentLen = dir.readUInt16LE(p + 32);
    let localOffset = dir.readUInt32LE(p + 42);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > dir.length) throw fail(`corrupt central directory at entry ${i}`);
    const name = dir.toString("utf8", p + 46, p + 46 + nameLen);
    // zip64 extended information: the 8-byte values of the fields set to all ones, in this order.
    for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen;) {
      const id = dir.readUInt16LE(e), len = dir.readUInt16LE(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        const next = () => {
          if (q + 8 > e + 4 + len) throw fail(`corrupt zip64 extra field of "${name}"`);
          const v = u64(dir, q, fail);
          q += 8;
          return v;
        };
        if (usize === U32_MAX) usize = next();
        if (compressedSize === U32_MAX) compressedSize = next();
        if (localOffset === U32_MAX) localOffset = next();
      }
      e += 4 + len;
    }
    if (flags & 1) throw fail(`"${name}" is encrypted`);
    if (localOffset + 30 + nameLen > dirOffset) throw fail(`corrupt central directory: "${name}" at offset ${localOffset}`);
    const local = readAt(fd, localOffset, 30 + nameLen, fail);
    if (local.readUInt32LE(0) !== LOCAL || local.readUInt16LE(26) !== nameLen || local.toString("utf8", 30) !== name) {
      throw fail(`corrupt local header of "${name}" at offset ${localOffset}`);
    }
    const dataOffset = localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    if (dataOffset + compressedSize > dirOffset) {
      throw fail(`truncated or corrupt: "${name}" (${compressedSize} bytes at ${dataOffset}) runs past the member data`);
    }
    entries.set(name, { name, method, compressedSize, size: usize, dataOffset });
    p = end;
  }
  return entries;
}
