// The safetensors reader, checkpoint folders (sharded, fp16 variant) and the weight view's checks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, copyFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SafetensorsFile, encodeSafetensors } from "../src/weights/safetensors.js";
import type { DType } from "../src/weights/tensor-file.js";
import { Checkpoint } from "../src/weights/checkpoint.js";
import { buildNetwork, openSession } from "../src/models/network.js";
import { ClipTextSpec } from "../src/models/clip.js";
import { CaseSet, maxAbsDiff } from "../src/parity/cases.js";
import { asElem } from "../src/parity/network-case.js";
import { fixture } from "./fixtures.js";

const TINY = fixture("tiny-a");
const tmp = () => mkdtempSync(join(tmpdir(), "kandinsky-weights-"));
const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

test("reads F32, F16, BF16 and integer tensors; header errors name the file and the tensor", () => {
  const dir = tmp();
  const file = join(dir, "model.safetensors");
  writeFileSync(file, encodeSafetensors([
    { name: "a", dtype: "F32", shape: [2], data: bytes(new Float32Array([1.5, -2])) },
    { name: "h", dtype: "F16", shape: [2], data: bytes(new Uint16Array([0x3c00, 0xc000])) },
    { name: "b", dtype: "BF16", shape: [1], data: bytes(new Uint16Array([0x3fc0])) },
    { name: "i", dtype: "I64", shape: [2], data: bytes(new BigInt64Array([7n, -3n])) },
  ], { format: "pt" }));
  const f = new SafetensorsFile(file);
  assert.deepEqual(Array.from(f.readFloat32("a")), [1.5, -2]);
  assert.deepEqual(Array.from(f.readFloat32("h")), [1, -2]);
  assert.deepEqual(Array.from(f.readFloat32("b")), [1.5]);
  assert.deepEqual(Array.from(f.readFloat32("i")), [7, -3]);
  assert.equal(f.metadata.format, "pt");

  const whole = readFileSync(file);
  const cut = join(dir, "cut.safetensors");
  writeFileSync(cut, whole.subarray(0, whole.length - 4));
  assert.throws(() => new SafetensorsFile(cut), /cut\.safetensors: truncated: tensor "i" ends at byte \d+ but the file has \d+/);
  const badLen = join(dir, "len.safetensors");
  writeFileSync(badLen, Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0, 0, 0, 0, 0]), whole.subarray(8)]));
  assert.throws(() => new SafetensorsFile(badLen), /len\.safetensors: corrupt header length/);
  const badJson = join(dir, "json.safetensors");
  const junk = Buffer.alloc(16);
  junk.writeBigUInt64LE(8n);
  junk.write("{not json", 8);
  writeFileSync(badJson, junk);
  assert.throws(() => new SafetensorsFile(badJson), /json\.safetensors: corrupt header: not valid JSON/);
  const badShape = join(dir, "shape.safetensors");
  writeFileSync(badShape, encodeSafetensors([{ name: "x", dtype: "F32" as DType, shape: [3], data: bytes(new Float32Array(2)) }]));
  assert.throws(() => new SafetensorsFile(badShape), /tensor "x": data_offsets span 8 bytes, shape \[3\] F32 needs 12/);
  assert.throws(() => new SafetensorsFile(join(dir, "nope.safetensors")), /nope\.safetensors: file not found/);
});

test("checkpoint folders: sharded index, the fp16 variant, and missing weights", () => {
  const dir = tmp();
  const t = (name: string, v: number) => ({ name, dtype: "F32" as DType, shape: [1], data: bytes(new Float32Array([v])) });
  writeFileSync(join(dir, "diffusion_pytorch_model-00001-of-00002.safetensors"), encodeSafetensors([t("x", 1)]));
  writeFileSync(join(dir, "diffusion_pytorch_model-00002-of-00002.safetensors"), encodeSafetensors([t("y", 2)]));
  writeFileSync(join(dir, "diffusion_pytorch_model.safetensors.index.json"), JSON.stringify({
    weight_map: { x: "diffusion_pytorch_model-00001-of-00002.safetensors", y: "diffusion_pytorch_model-00002-of-00002.safetensors" },
  }));
  const sharded = new Checkpoint(dir);
  assert.deepEqual([...sharded.tensors.keys()].sort(), ["x", "y"]);
  assert.equal(sharded.files.length, 2);
  assert.throws(() => sharded.get("z"), /missing tensor "z"/);

  const movq = join(TINY, "decoder/movq");
  assert.match(new Checkpoint(movq).files[0].path, /diffusion_pytorch_model\.safetensors$/);
  const fp16 = new Checkpoint(movq, "fp16");
  assert.match(fp16.files[0].path, /diffusion_pytorch_model\.fp16\.safetensors$/);
  assert.equal([...fp16.tensors.values()][0].dtype, "F16");
  assert.throws(() => new Checkpoint(tmp()), /no weights found \(looked for diffusion_pytorch_model\.safetensors, /);
});

/** A copy of the tiny CLIP text encoder whose tensors `edit` may change. */
function clipCopy(edit: (ts: { name: string; dtype: DType; shape: number[]; data: Uint8Array }[]) => void): string {
  const src = join(TINY, "prior/text_encoder");
  const dir = tmp();
  copyFileSync(join(src, "config.json"), join(dir, "config.json"));
  const f = new SafetensorsFile(join(src, "model.safetensors"));
  const ts = [...f.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: new Uint8Array(f.readBytes(t.name)) }));
  edit(ts);
  writeFileSync(join(dir, "model.safetensors"), encodeSafetensors(ts));
  return dir;
}

test("a missing or mis-shaped tensor is an error naming it; unknown buffers are ignored; bf16 is cast in-graph", async () => {
  const missing = clipCopy((ts) => ts.splice(ts.findIndex((t) => t.name === "text_projection.weight"), 1));
  assert.throws(() => buildNetwork(ClipTextSpec, { dir: missing }, { withMask: false }), /missing tensor "text_projection\.weight" \(expected shape \[32,32\]\)/);
  const misshaped = clipCopy((ts) => {
    const t = ts.find((x) => x.name === "text_projection.weight")!;
    t.shape = [16, 64];
  });
  assert.throws(() => buildNetwork(ClipTextSpec, { dir: misshaped }, { withMask: false }), /tensor "text_projection\.weight" has shape \[16,64\], expected \[32,32\]/);

  // Older transformers checkpoints carry position_ids buffers; bf16 weights: truncated float32 bits.
  const bf16 = clipCopy((ts) => {
    ts.push({ name: "text_model.embeddings.position_ids", dtype: "I64", shape: [1, 77], data: bytes(BigInt64Array.from({ length: 77 }, (_, i) => BigInt(i))) });
    for (const t of ts) {
      if (t.dtype !== "F32") continue;
      const u32 = new Uint32Array(t.data.slice().buffer);
      t.data = bytes(Uint16Array.from(u32, (u) => u >>> 16));
      t.dtype = "BF16";
    }
  });
  const set = new CaseSet(TINY);
  const c = set.get("clip_text.no_mask");
  const ids = set.tensor(c.inputs.input_ids);
  const session = await openSession(buildNetwork(ClipTextSpec, { dir: bf16 }, { withMask: false }));
  try {
    const out = await session.run({ input_ids: { data: asElem(ids.data, "int64"), dims: ids.shape } });
    const d = maxAbsDiff(out.text_embeds.data as Float32Array, set.tensor(c.outputs.text_embeds).data);
    // bf16 keeps 8 bits of mantissa: close to the float32 reference, not equal to it.
    assert.ok(d > 0 && d < 0.1, `bf16 text_embeds differ by ${d}`);
  } finally {
    await session.release();
  }
});
