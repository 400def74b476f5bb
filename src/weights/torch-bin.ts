// PyTorch checkpoints (`pytorch_model.bin`, `diffusion_pytorch_model.bin`): the zip format of torch.save (torch
// >= 1.6). `<archive>/data.pkl` pickles the state dict; each storage is the stored (uncompressed) member
// `<archive>/data/<key>`. The pickle is read by a restricted unpickler that knows only what a state dict needs,
// and each tensor becomes the byte range of its storage inside the zip, used in place like a safetensors tensor.
import { openSync, readSync, closeSync } from "node:fs";
import { TensorFile, DTYPE_BYTES, type DType } from "./tensor-file.js";
import { readZipEntries, type ZipEntry } from "./zip.js";
import { unpickle, PickleError, type PyGlobal, type UnpickleHooks } from "./pickle.js";

export class TorchBinError extends Error {}

/** torch's typed storage classes (the type tag of a persistent id) and the dtype of their elements. */
const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: "F32", HalfStorage: "F16", BFloat16Storage: "BF16", DoubleStorage: "F64",
  LongStorage: "I64", IntStorage: "I32", ShortStorage: "I16", CharStorage: "I8", ByteStorage: "U8", BoolStorage: "BOOL",
};

const MAX_PICKLE = 64 * 1024 * 1024;

class Storage {
  constructor(readonly dtype: DType, readonly key: string, readonly numel: number) {}
}

class StoredTensor {
  constructor(readonly storage: Storage, readonly offset: number, readonly shape: number[], readonly stride: number[]) {}
}

const isIndex = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;
const isIndexList = (v: unknown): v is number[] => Array.isArray(v) && v.every(isIndex);

/** torch's `is_contiguous`: row-major strides, where dimensions of size 1 may have any stride. */
function isContiguous(shape: number[], stride: number[]): boolean {
  if (shape.includes(0)) return true;
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expected) return false;
    expected *= shape[i];
  }
  return true;
}

/** What a torch.save'd state dict may reference: everything else is refused, and nothing is ever executed. */
function stateDictHooks(): UnpickleHooks {
  const fail = (what: string) => new PickleError(what);
  const callable = (module: string, name: string, call: (args: unknown[]) => unknown): PyGlobal => ({ module, name, call });
  const parameter = (args: unknown[]) => {
    if (!(args[0] instanceof StoredTensor)) throw fail("bad state dict: a parameter without a tensor");
    return args[0];
  };
  const globals: Record<string, PyGlobal> = {
    "collections.OrderedDict": callable("collections", "OrderedDict", (args) => {
      if (args.length === 0) return new Map();
      if (args.length === 1 && Array.isArray(args[0]) && args[0].every((p) => Array.isArray(p) && p.length === 2)) {
        return new Map(args[0] as [unknown, unknown][]);
      }
      throw fail("bad state dict: OrderedDict called with unexpected arguments");
    }),
    "torch._utils._rebuild_tensor_v2": callable("torch._utils", "_rebuild_tensor_v2", (args) => {
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      const [storage, offset, shape, stride] = args;
      if (args.length < 6 || !(storage instanceof Storage) || !isIndex(offset) || !isIndexList(shape) ||
          !isIndexList(stride) || shape.length !== stride.length) {
        throw fail("bad state dict: _rebuild_tensor_v2 called with unexpected arguments");
      }
      return new StoredTensor(storage, offset, shape, stride);
    }),
    "torch._utils._rebuild_parameter": callable("torch._utils", "_rebuild_parameter", parameter),
    "torch._utils._rebuild_parameter_with_state": callable("torch._utils", "_rebuild_parameter_with_state", parameter),
  };
  for (const name of Object.keys(STORAGE_DTYPES)) globals[`torch.${name}`] = { module: "torch", name };
  return {
    global(module, name) {
      const g = globals[`${module}.${name}`];
      if (!g) throw new TorchBinError(`refusing to load: the pickle references the global "${module}.${name}", which a state dict does not need`);
      return g;
    },
    persistentLoad(pid) {
      // ('storage', storage_type, key, location, numel)
      if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== "storage") throw fail("bad state dict: unknown persistent id");
      const [, type, key, , numel] = pid as [string, PyGlobal, unknown, unknown, unknown];
      const dtype = type?.module === "torch" ? STORAGE_DTYPES[type.name] : undefined;
      if (!dtype || typeof key !== "string" || !isIndex(numel)) throw fail("bad state dict: malformed storage reference");
      return new Storage(dtype, key, numel);
    },
    build(obj, state) {
      // An OrderedDict's attributes (a state dict's `_metadata`): not needed.
      if (!(obj instanceof Map) || !(state === null || state instanceof Map)) throw fail("bad state dict: BUILD on a non-dict");
    },
  };
}

export class TorchBinFile extends TensorFile {
  constructor(path: string) {
    super(path);
    const fail = (what: string) => new TorchBinError(`${path}: ${what}`);
    const fd = openSync(this.path, "r");
    try {
      const magic = Buffer.alloc(2);
      if (readSync(fd, magic, 0, 2, 0) === 2 && magic[0] === 0x80 && magic[1] <= 5) {
        throw fail("the legacy torch.save format (a bare pickle, torch < 1.6) is not supported; re-save it with torch >= 1.6 or as safetensors");
      }
      const entries = readZipEntries(fd, path);
      const pkl = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
      if (pkl.length !== 1) throw fail(`not a torch.save checkpoint: ${pkl.length === 0 ? "no" : "several"} <archive>/data.pkl`);
      const archive = pkl[0].slice(0, -"/data.pkl".length);
      const stored = (name: string): ZipEntry => {
        const e = entries.get(name);
        if (!e) throw fail(`missing zip member "${name}"`);
        if (e.method !== 0 || e.compressedSize !== e.size) {
          throw fail(`zip member "${name}" is compressed (method ${e.method}); torch.save stores members uncompressed`);
        }
        return e;
      };
      const read = (e: ZipEntry) => {
        const buf = Buffer.alloc(e.size);
        if (e.size > 0 && readSync(fd, buf, 0, e.size, e.dataOffset) !== e.size) throw fail(`truncated: zip member "${e.name}"`);
        return buf;
      };
      const order = entries.get(`${archive}/byteorder`);
      if (order) {
        const value = read(stored(order.name)).toString("latin1");
        if (value !== "little") throw fail(`byte order "${value}" is not supported (only little-endian)`);
      }
      const pklEntry = stored(pkl[0]);
      if (pklEntry.size > MAX_PICKLE) throw fail(`${pkl[0]} is ${pklEntry.size} bytes, too large for a state dict`);
      let root: unknown;
      try {
        root = unpickle(read(pklEntry), stateDictHooks());
      } catch (e) {
        if (e instanceof PickleError || e instanceof TorchBinError) throw fail(`${pkl[0]}: ${e.message}`);
        throw e;
      }
      if (!(root instanceof Map)) throw fail(`${pkl[0]} does not hold a state dict (a dict of tensors)`);
      for (const [name, t] of root) {
        if (typeof name !== "string") throw fail(`state dict key ${String(name)} is not a string`);
        if (!(t instanceof StoredTensor)) throw fail(`"${name}" is not a tensor`);
        if (!isContiguous(t.shape, t.stride)) {
          throw fail(`tensor "${name}" is not contiguous (shape [${t.shape}], stride [${t.stride}]); only contiguous tensors can be used in place`);
        }
        const { dtype, key, numel } = t.storage;
        const item = DTYPE_BYTES[dtype];
        const data = stored(`${archive}/data/${key}`);
        if (numel * item > data.size) throw fail(`storage ${key} holds ${data.size} bytes, ${numel} ${dtype} need ${numel * item}`);
        const count = t.shape.reduce((a, b) => a * b, 1);
        if (t.offset + count > numel) {
          throw fail(`tensor "${name}" (offset ${t.offset}, ${count} elements) runs past its storage of ${numel}`);
        }
        this.tensors.set(name, { name, dtype, shape: t.shape, offset: data.dataOffset + t.offset * item, length: count * item, file: this.path });
      }
    } finally {
      closeSync(fd);
    }
  }
}
