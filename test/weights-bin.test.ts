// PyTorch `.bin` checkpoints (torch.save zips): the real-layout twins against their safetensors, `.bin`-only
// folders through the networks and the parity runner, hand-built zips and pickles (hostile, corrupt, truncated).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync, readFileSync, copyFileSync, openSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { crc32, deflateRawSync } from "node:zlib";
import { TorchBinFile } from "../src/weights/torch-bin.js";
import { SafetensorsFile, encodeSafetensors } from "../src/weights/safetensors.js";
import { Checkpoint, findWeightFiles } from "../src/weights/checkpoint.js";
import { readZipEntries } from "../src/weights/zip.js";
import { buildNetwork, openSession } from "../src/models/network.js";
import { MoVQDecodeSpec } from "../src/models/movq/movq.js";
import { runParity, type ParityLine } from "../src/parity/run.js";
import { formatResult } from "../src/parity/report.js";
import { fixture } from "./fixtures.js";

const REAL = fixture("real-layout");
const tmp = () => mkdtempSync(join(tmpdir(), "kandinsky-bin-"));
const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Every component folder of real-layout with weights: [folder, .bin, .safetensors]. */
function realComponents(): [string, string, string][] {
  const out: [string, string, string][] = [];
  for (const repo of ["prior", "decoder", "inpaint"]) {
    for (const c of readdirSync(join(REAL, repo))) {
      const dir = join(REAL, repo, c);
      const files = statSync(dir).isDirectory() ? readdirSync(dir) : [];
      const bin = files.find((f) => f.endsWith(".bin"));
      if (!bin) continue;
      out.push([dir, join(dir, bin), join(dir, files.find((f) => f.endsWith(".safetensors"))!)]);
    }
  }
  return out;
}

/** A copy of `src` as symlinks, without its `*.safetensors` weights (a fixture set's cases.safetensors stays). */
function binOnlyCopy(src: string): string {
  const dst = tmp();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const from = join(dir, name), to = join(dst, relative(src, from));
      if (statSync(from).isDirectory()) {
        mkdirSync(to);
        walk(from);
      } else if (!name.endsWith(".safetensors") || (dir === src && name === "cases.safetensors")) {
        symlinkSync(from, to);
      }
    }
  };
  walk(src);
  return dst;
}

test("every real-layout .bin holds the same tensors as its safetensors twin: names, dtypes, shapes and bytes", () => {
  const comps = realComponents();
  assert.equal(comps.length, 9);
  for (const [dir, binPath, stPath] of comps) {
    const bin = new TorchBinFile(binPath), st = new SafetensorsFile(stPath);
    assert.deepEqual([...bin.tensors.keys()].sort(), [...st.tensors.keys()].sort(), dir);
    for (const [name, s] of st.tensors) {
      const b = bin.tensors.get(name)!;
      assert.equal(b.dtype, s.dtype, `${dir} ${name}`);
      assert.deepEqual(b.shape, s.shape, `${dir} ${name}`);
      assert.equal(b.file, bin.path);
      assert.ok(bin.readBytes(name).equals(st.readBytes(name)), `${dir} ${name}: bytes differ`);
    }
    // The old transformers position_ids buffer is there (int64), as in the safetensors file.
    if (dir.endsWith("encoder")) assert.ok([...bin.tensors.values()].some((t) => t.dtype === "I64"), dir);
    // A folder with both formats reads the safetensors.
    assert.ok(new Checkpoint(dir).files.every((f) => f instanceof SafetensorsFile), dir);
  }
});

test("a .bin-only component is found, and a network built from it computes exactly what the safetensors one does", async () => {
  const copy = binOnlyCopy(join(REAL, "decoder"));
  const movq = join(copy, "movq");
  const ckpt = new Checkpoint(movq);
  assert.ok(ckpt.files.length === 1 && ckpt.files[0] instanceof TorchBinFile);
  assert.match(ckpt.files[0].path, /diffusion_pytorch_model\.bin$/);
  assert.equal(ckpt.folder, join(REAL, "decoder/movq"), "external data lives in the .bin's real folder");

  const outputs: Float32Array[] = [];
  for (const dir of [movq, join(REAL, "decoder/movq")]) {
    const net = buildNetwork(MoVQDecodeSpec, { dir }, { quantize: true });
    const C = net.config.vqEmbedDim;
    const latents = Float32Array.from({ length: C * 4 * 6 }, (_, i) => Math.sin(i * 0.37) * 1.5);
    const s = await openSession(net);
    try {
      outputs.push((await s.run({ latents: { data: latents, dims: [1, C, 4, 6] } })).image.data as Float32Array);
    } finally {
      await s.release();
    }
  }
  assert.ok(outputs[0].length > 0);
  assert.deepEqual(outputs[0], outputs[1]);
});

test("the parity runner over a .bin-only copy of real-layout gives exactly the results of the original", async () => {
  // The cases that load weights (tokenizer, scheduler and image-processor cases read none).
  const only = ["clip_vision.", "clip_text.", "mclip.", "e2e.text2img.", "e2e.mix.", "e2e.img2img.", "e2e.inpaint."];
  const run = async (dir: string) => {
    const lines: ParityLine[] = [];
    for await (const l of runParity(dir, { only, build: { compute: "float32", attention: "fused" }, session: {} })) lines.push(l);
    return lines;
  };
  const bin = await run(binOnlyCopy(REAL));
  const orig = await run(REAL);
  for (const l of bin) console.log(`.bin only: ${formatResult(l.id, l.result)}`);
  assert.equal(bin.length, 12);
  assert.deepEqual(bin, orig);
  // Weight-using cases pass from the .bin files (the others' status is the tokenizers' business, and equal above).
  for (const id of ["clip_vision.basic", "clip_text.with_mask", "mclip.basic", "e2e.text2img.replay", "e2e.inpaint.seeded"]) {
    assert.equal(bin.find((l) => l.id === id)?.result.status, "PASS", id);
  }
});

// ---- hand-built torch.save zips ----

/** A pickle written opcode by opcode, as torch.save's pickler does (protocol 2, or 4 with frames and memoize). */
class Pickle {
  private parts: Buffer[] = [];
  constructor(private proto: 2 | 4 = 2) {
    this.op(0x80, proto);
    if (proto === 4) this.op(0x95, ...new Array(8).fill(0)); // a FRAME (length not checked)
  }
  op(...b: number[]) { this.parts.push(Buffer.from(b)); return this; }
  raw(b: Buffer) { this.parts.push(b); return this; }
  str(s: string) {
    const u = Buffer.from(s, "utf8");
    if (this.proto === 4 && u.length < 256) return this.op(0x8c, u.length).raw(u);
    const n = Buffer.alloc(4);
    n.writeUInt32LE(u.length);
    return this.op(0x58).raw(n).raw(u);
  }
  int(v: number) {
    const n = Buffer.alloc(4);
    n.writeInt32LE(v);
    return this.op(0x4a).raw(n);
  }
  global(module: string, name: string) {
    if (this.proto === 4) return this.str(module).str(name).op(0x93, 0x94); // STACK_GLOBAL, MEMOIZE
    return this.op(0x63).raw(Buffer.from(`${module}\n${name}\n`));
  }
  tuple(...items: ((p: Pickle) => unknown)[]) {
    this.op(0x28);
    for (const it of items) it(this);
    return this.op(0x74);
  }
  ints(...v: number[]) { return this.tuple(...v.map((x) => (p: Pickle) => p.int(x))); }
  emptyOrderedDict() { return this.global("collections", "OrderedDict").op(0x29, 0x52); }
  /** _rebuild_tensor_v2(storage(type, key, numel), offset, shape, stride, False, OrderedDict()). */
  tensor(type: string, key: string, numel: number, offset: number, shape: number[], stride: number[]) {
    this.global("torch._utils", "_rebuild_tensor_v2");
    return this.tuple(
      (p) => p.tuple((q) => q.str("storage"), (q) => q.global("torch", type), (q) => q.str(key), (q) => q.str("cpu"), (q) => q.int(numel)).op(0x51),
      (p) => p.int(offset), (p) => p.ints(...shape), (p) => p.ints(...stride), (p) => p.op(0x89), (p) => p.emptyOrderedDict(),
    ).op(0x52);
  }
  parameter(tensor: (p: Pickle) => unknown) {
    this.global("torch._utils", "_rebuild_parameter");
    return this.tuple(tensor, (p) => p.op(0x88), (p) => p.emptyOrderedDict()).op(0x52);
  }
  done() { return Buffer.concat([...this.parts, Buffer.from([0x2e])]); }
}

interface Member { name: string; data: Buffer; deflate?: boolean }

/** A zip like torch.save's: stored members; `zip64` writes every size and offset through the zip64 fields. */
function zip(members: Member[], zip64 = false): Buffer {
  const u16 = (v: number) => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b; };
  const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
  const u64 = (v: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
  const FF = 0xffffffff;
  const out: Buffer[] = [], central: Buffer[] = [];
  let off = 0;
  for (const m of members) {
    const body = m.deflate ? deflateRawSync(m.data) : m.data;
    const name = Buffer.from(m.name);
    const method = m.deflate ? 8 : 0, crc = crc32(m.data);
    const localExtra = zip64 ? Buffer.concat([u16(1), u16(16), u64(m.data.length), u64(body.length)]) : Buffer.alloc(0);
    const local = Buffer.concat([u32(0x04034b50), u16(45), u16(0), u16(method), u32(0), u32(crc),
      u32(zip64 ? FF : body.length), u32(zip64 ? FF : m.data.length), u16(name.length), u16(localExtra.length), name, localExtra]);
    const cExtra = zip64 ? Buffer.concat([u16(1), u16(24), u64(m.data.length), u64(body.length), u64(off)]) : Buffer.alloc(0);
    central.push(Buffer.concat([u32(0x02014b50), u16(45), u16(45), u16(0), u16(method), u32(0), u32(crc),
      u32(zip64 ? FF : body.length), u32(zip64 ? FF : m.data.length), u16(name.length), u16(cExtra.length), u16(0),
      u16(0), u16(0), u32(0), u32(zip64 ? FF : off), name, cExtra]));
    out.push(local, body);
    off += local.length + body.length;
  }
  const dir = Buffer.concat(central);
  const n = members.length;
  if (!zip64) return Buffer.concat([...out, dir, u32(0x06054b50), u16(0), u16(0), u16(n), u16(n), u32(dir.length), u32(off), u16(0)]);
  const rec = off + dir.length;
  return Buffer.concat([...out, dir,
    u32(0x06064b50), u64(44), u16(45), u16(45), u32(0), u32(0), u64(n), u64(n), u64(dir.length), u64(off),
    u32(0x07064b50), u32(0), u64(rec), u32(1),
    u32(0x06054b50), u16(0xffff), u16(0xffff), u16(0xffff), u16(0xffff), u32(FF), u32(FF), u16(0)]);
}

/** A torch.save-style archive `archive/` with data.pkl, byteorder and the storages. */
function torchZip(pkl: Buffer, storages: Record<string, Buffer>, opts: { zip64?: boolean; byteorder?: string; extra?: Member[] } = {}): Buffer {
  return zip([
    { name: "archive/data.pkl", data: pkl },
    { name: "archive/byteorder", data: Buffer.from(opts.byteorder ?? "little") },
    ...Object.entries(storages).map(([k, data]) => ({ name: `archive/data/${k}`, data })),
    { name: "archive/version", data: Buffer.from("3\n") },
    ...(opts.extra ?? []),
  ], opts.zip64);
}

function write(dir: string, name: string, data: Buffer): string {
  writeFileSync(join(dir, name), data);
  return join(dir, name);
}

/** A state dict of a weight [2,3] F32 (a Parameter), a bias [3] F16 sharing nothing, and a view at an offset. */
function stateDict(proto: 2 | 4): Buffer {
  const p = new Pickle(proto).emptyOrderedDict().op(0x28);
  p.str("w").parameter((q) => q.tensor("FloatStorage", "0", 8, 0, [2, 3], [3, 1]));
  p.str("b").tensor("HalfStorage", "1", 3, 0, [3], [1]);
  p.str("tail").tensor("FloatStorage", "0", 8, 6, [2, 1], [1, 7]); // size-1 dims may have any stride
  p.op(0x75);
  // The state dict's `_metadata` attribute, as OrderedDict.__reduce__ pickles it: BUILD with a dict.
  p.op(0x7d).str("_metadata").emptyOrderedDict().op(0x73, 0x62);
  return p.done();
}

const STORAGES = {
  "0": bytes(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8])),
  "1": bytes(Uint16Array.from([0x3c00, 0xc000, 0x3800])),
};

test("hand-built torch.save zips: protocols 2 and 4, zip64, parameters, shared storages, _metadata", () => {
  const dir = tmp();
  for (const [proto, zip64] of [[2, false], [4, true]] as const) {
    const f = new TorchBinFile(write(dir, `p${proto}.bin`, torchZip(stateDict(proto), STORAGES, { zip64 })));
    assert.deepEqual([...f.tensors.keys()], ["w", "b", "tail"]);
    assert.deepEqual(Array.from(f.readFloat32("w")), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(f.tensors.get("w")!.shape, [2, 3]);
    assert.deepEqual(Array.from(f.readFloat32("b")), [1, -2, 0.5]);
    assert.equal(f.tensors.get("b")!.dtype, "F16");
    assert.deepEqual(Array.from(f.readFloat32("tail")), [7, 8]);
    // The offset is inside the stored member: the same bytes as in the file.
    const w = f.tensors.get("w")!;
    assert.ok(readFileSync(f.path).subarray(w.offset, w.offset + w.length).equals(STORAGES["0"].subarray(0, 24)));
  }
});

test("a pickle that names anything but a state dict's globals is refused, naming the file and the global", () => {
  const dir = tmp();
  const hostile: [string, Buffer][] = [
    ["builtins.eval", new Pickle().global("builtins", "eval").tuple((p) => p.str("print('pwned')")).op(0x52).done()],
    ["os.system", new Pickle().global("os", "system").tuple((p) => p.str("touch /tmp/pwned")).op(0x52).done()],
    ["posix.system", new Pickle(4).global("posix", "system").tuple((p) => p.str("id")).op(0x52).done()],
    // Hidden inside an otherwise valid state dict, as a tensor's backward hook.
    ["torch.load", new Pickle().emptyOrderedDict().op(0x28).str("w").global("torch._utils", "_rebuild_tensor_v2")
      .tuple((p) => p.tuple((q) => q.str("storage"), (q) => q.global("torch", "FloatStorage"), (q) => q.str("0"), (q) => q.str("cpu"), (q) => q.int(8)).op(0x51),
        (p) => p.int(0), (p) => p.ints(8), (p) => p.ints(1), (p) => p.op(0x89), (p) => p.global("torch", "load").op(0x29, 0x52)).op(0x52, 0x75).done()],
  ];
  for (const [global, pkl] of hostile) {
    const file = write(dir, `${global}.bin`, torchZip(pkl, STORAGES));
    assert.throws(() => new TorchBinFile(file), (e: Error) => {
      assert.ok(e.message.startsWith(file), e.message);
      assert.ok(e.message.includes(`"${global}"`), e.message);
      return true;
    });
  }
  // An allowed name used in a way a state dict never does, and opcodes that build objects from classes.
  const misuse: [string, Buffer, RegExp][] = [
    ["call-storage", new Pickle().global("torch", "FloatStorage").op(0x29, 0x52).done(), /torch\.FloatStorage is not callable here/],
    ["inst", new Pickle().op(0x28).raw(Buffer.from("ios\nsystem\n")).done(), /unsupported pickle opcode INST/],
    ["ext", new Pickle().op(0x82, 1).done(), /unsupported pickle opcode EXT1/],
    ["not-dict", new Pickle().str("hello").done(), /does not hold a state dict/],
    ["not-tensor", new Pickle().emptyOrderedDict().str("x").int(3).op(0x73).done(), /"x" is not a tensor/],
  ];
  for (const [name, pkl, re] of misuse) {
    const file = write(dir, `${name}.bin`, torchZip(pkl, STORAGES));
    assert.throws(() => new TorchBinFile(file), (e: Error) => e.message.startsWith(file) && re.test(e.message), name);
  }
});

test("tensors that cannot be used in place, and storages or members that are missing, short or compressed", () => {
  const dir = tmp();
  const one = (tensor: (p: Pickle) => unknown) => {
    const p = new Pickle().emptyOrderedDict().op(0x28).str("t");
    tensor(p);
    return p.op(0x75).done();
  };
  const cases: [string, Buffer, RegExp][] = [
    ["transposed", torchZip(one((p) => p.tensor("FloatStorage", "0", 8, 0, [3, 2], [1, 3])), STORAGES),
      /tensor "t" is not contiguous \(shape \[3,2\], stride \[1,3\]\)/],
    ["past-storage", torchZip(one((p) => p.tensor("FloatStorage", "0", 8, 4, [2, 3], [3, 1])), STORAGES),
      /tensor "t" \(offset 4, 6 elements\) runs past its storage of 8/],
    ["short-storage", torchZip(one((p) => p.tensor("FloatStorage", "0", 8, 0, [8], [1])), { "0": STORAGES["0"].subarray(0, 20) }),
      /storage 0 holds 20 bytes, 8 F32 need 32/],
    ["missing-storage", torchZip(one((p) => p.tensor("FloatStorage", "7", 8, 0, [8], [1])), STORAGES), /missing zip member "archive\/data\/7"/],
    ["unknown-storage", torchZip(one((p) => p.tensor("ComplexFloatStorage", "0", 8, 0, [8], [1])), STORAGES), /"torch\.ComplexFloatStorage"/],
    ["big-endian", torchZip(stateDict(2), STORAGES, { byteorder: "big" }), /byte order "big" is not supported/],
    ["deflated", zip([{ name: "archive/data.pkl", data: stateDict(2), deflate: true }, { name: "archive/data/0", data: STORAGES["0"] }]),
      /zip member "archive\/data\.pkl" is compressed \(method 8\)/],
    ["no-pkl", zip([{ name: "archive/data/0", data: STORAGES["0"] }]), /not a torch\.save checkpoint: no <archive>\/data\.pkl/],
    ["cut-pickle", torchZip(stateDict(2).subarray(0, 60), STORAGES), /archive\/data\.pkl: truncated pickle/],
    ["bad-opcode", torchZip(Buffer.concat([stateDict(2).subarray(0, 29), Buffer.from([0xff])]), STORAGES), /bad pickle: unknown opcode 0xff \(opcode at byte 29\)/],
    ["legacy", Buffer.concat([Buffer.from([0x80, 0x02, 0x8a, 0x0a]), Buffer.alloc(40)]), /legacy torch\.save format .* is not supported/],
    ["not-zip", Buffer.alloc(40, 0x20), /not a zip file or truncated: no end-of-central-directory record/],
  ];
  for (const [name, data, re] of cases) {
    const file = write(dir, `${name}.bin`, data);
    assert.throws(() => new TorchBinFile(file), (e: Error) => {
      assert.ok(e.message.startsWith(file), e.message);
      assert.match(e.message, re);
      return true;
    }, name);
  }
});

test("a truncated or corrupt real .bin is an error naming the file", () => {
  const src = join(REAL, "decoder/unet/diffusion_pytorch_model.bin");
  const whole = readFileSync(src);
  const fd = openSync(src, "r");
  const entries = readZipEntries(fd, src);
  closeSync(fd);
  const pkl = entries.get("diffusion_pytorch_model/data.pkl")!;
  const lastData = Math.max(...[...entries.values()].map((e) => e.dataOffset + e.size));
  const centralStart = whole.indexOf(Buffer.from([0x50, 0x4b, 1, 2]), lastData);
  const dir = tmp();
  const variants: [string, Buffer, RegExp][] = [
    ["cut-half", whole.subarray(0, whole.length >> 1), /no end-of-central-directory record/],
    ["cut-tail", whole.subarray(0, whole.length - 30), /no end-of-central-directory record|corrupt zip64/],
    // The member data cut short while the directory survives: members now overlap the directory.
    ["cut-data", Buffer.concat([whole.subarray(0, lastData - 100), whole.subarray(lastData)]), /corrupt|truncated/],
    ["bad-directory", (() => { const b = Buffer.from(whole); b.writeUInt32LE(0x12345678, centralStart); return b; })(),
      /corrupt central directory at entry 0/],
    ["bad-pickle", (() => { const b = Buffer.from(whole); b[pkl.dataOffset + 2] = 0xff; return b; })(), /data\.pkl: bad pickle: unknown opcode 0xff/],
    ["empty", Buffer.alloc(0), /not a zip file \(0 bytes\)/],
  ];
  for (const [name, data, re] of variants) {
    const file = write(dir, `${name}.bin`, data);
    assert.throws(() => new TorchBinFile(file), (e: Error) => {
      assert.ok(e.message.startsWith(file), `${name}: ${e.message}`);
      assert.match(e.message, re, name);
      return true;
    }, name);
  }
});

test("weight file names: safetensors first, .bin variants and shards, what was looked for", () => {
  // A corrupt .bin next to good safetensors is never opened.
  const both = tmp();
  copyFileSync(join(REAL, "prior/text_encoder/model.safetensors"), join(both, "model.safetensors"));
  writeFileSync(join(both, "pytorch_model.bin"), "garbage");
  assert.ok(new Checkpoint(both).files[0] instanceof SafetensorsFile);

  // Sharded .bin (transformers' names) and the fp16 variant, preferred when asked for.
  const dir = tmp();
  const shard = (key: string, v: number) => torchZip(
    new Pickle().emptyOrderedDict().op(0x28).str(key).tensor("FloatStorage", "0", 1, 0, [1], [1]).op(0x75).done(),
    { "0": bytes(Float32Array.from([v])) });
  write(dir, "pytorch_model-00001-of-00002.bin", shard("x", 1));
  write(dir, "pytorch_model-00002-of-00002.bin", shard("y", 2));
  write(dir, "pytorch_model.bin.index.json", Buffer.from(JSON.stringify({
    weight_map: { x: "pytorch_model-00001-of-00002.bin", y: "pytorch_model-00002-of-00002.bin" },
  })));
  write(dir, "pytorch_model.fp16.bin", shard("z", 3));
  const sharded = new Checkpoint(dir);
  assert.deepEqual([...sharded.tensors.keys()].sort(), ["x", "y"]);
  assert.ok(sharded.files.every((f) => f instanceof TorchBinFile));
  assert.deepEqual([...new Checkpoint(dir, "fp16").tensors.keys()], ["z"]);
  // A safetensors file of any variant is preferred to any .bin.
  write(dir, "model.fp16.safetensors", encodeSafetensors([{ name: "s", dtype: "F32", shape: [1], data: bytes(Float32Array.from([4])) }]));
  assert.deepEqual([...new Checkpoint(dir).tensors.keys()], ["s"]);

  // diffusers' variant index name (`_add_variant`): name.safetensors.index.fp16.json.
  const fp16 = tmp();
  write(fp16, "diffusion_pytorch_model.fp16-00001-of-00001.safetensors", encodeSafetensors([{ name: "h", dtype: "F16", shape: [1], data: bytes(Uint16Array.from([0x3c00])) }]));
  write(fp16, "diffusion_pytorch_model.safetensors.index.fp16.json", Buffer.from(JSON.stringify({ weight_map: { h: "diffusion_pytorch_model.fp16-00001-of-00001.safetensors" } })));
  assert.match(findWeightFiles(fp16, "fp16").paths[0], /fp16-00001-of-00001\.safetensors$/);

  assert.throws(() => new Checkpoint(tmp()), (e: Error) => {
    for (const n of ["diffusion_pytorch_model.safetensors", "model.safetensors.index.json", "model.fp16.safetensors",
      "diffusion_pytorch_model.bin", "pytorch_model.bin", "pytorch_model.bin.index.json", "pytorch_model.fp16.bin"]) {
      assert.ok(e.message.includes(`${n},`) || e.message.includes(`${n})`), `${n} not in: ${e.message}`);
    }
    return /no weights found \(looked for /.test(e.message);
  });
});
