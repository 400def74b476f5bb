// A view of a checkpoint scoped by key prefix, as candle's VarBuilder: `vb.pp("down_blocks").pp(0).get("conv.weight", [o, i, 3, 3])`.
// Modules name their weights once, mirroring the checkpoint's module tree; `get` checks the shape and
// returns a graph value in the compute dtype (a half-precision checkpoint on a float32 graph is Cast in-graph).
import type { Graph, Value } from "../runtime/graph.js";
import type { Elem } from "../runtime/onnx-schema.js";
import type { DType } from "./tensor-file.js";
import { Checkpoint, WeightError } from "./checkpoint.js";

const ELEM_OF: Partial<Record<DType, Elem>> = {
  F32: "float32", F16: "float16", BF16: "bfloat16", F64: "float64", I64: "int64", I32: "int32", U8: "uint8", I8: "int8", BOOL: "bool",
};

/** How a network is built: the element type it computes in and the attention form (see nn/attention.ts). */
export interface BuildOptions {
  compute: Elem;
  attention: "fused" | "plain";
  /**
   * Zero-pad convolution inputs of more than 4 channels to a multiple of 4 (GPU providers): ORT's WebGPU Conv
   * gives wrong results for some channel counts (6 and 9, e.g. the inpainting UNet's conv_in).
   */
  padConvChannels?: boolean;
}

/** Where weights come from: a checkpoint, or nothing (shape-only graphs for inspection). */
export class WeightStore {
  readonly used = new Set<string>();
  /** The shape each used key was asked for (what a checkpoint for this graph must hold). */
  readonly shapes = new Map<string, readonly number[]>();
  private cache = new Map<string, Value>();

  constructor(readonly graph: Graph, readonly checkpoint: Checkpoint | null, readonly opts: BuildOptions) {}

  has(key: string): boolean {
    return this.checkpoint ? this.checkpoint.tensors.has(key) : true;
  }

  get(key: string, shape: number[]): Value {
    const hit = this.cache.get(key);
    if (hit) return hit;
    const g = this.graph;
    let v: Value;
    if (!this.checkpoint) {
      v = g.placeholder(hintOf(key), this.opts.compute, shape);
    } else {
      const t = this.checkpoint.tensors.get(key);
      if (!t) throw new WeightError(`${this.checkpoint.dir}: missing tensor "${key}" (expected shape [${shape}])`);
      if (t.shape.join(",") !== shape.join(",")) {
        throw new WeightError(`${this.checkpoint.dir}: tensor "${key}" has shape [${t.shape}], expected [${shape}]`);
      }
      const elem = ELEM_OF[t.dtype];
      if (!elem) throw new WeightError(`${this.checkpoint.dir}: tensor "${key}" has unsupported dtype ${t.dtype}`);
      const base = t.file.slice(t.file.lastIndexOf("/") + 1);
      v = g.external(hintOf(key), { elem, dims: t.shape, location: base, offset: t.offset, length: t.length }, this.checkpoint.folder);
      if (elem !== this.opts.compute && isFloat(elem)) v = v.cast(this.opts.compute);
    }
    this.used.add(key);
    this.shapes.set(key, [...shape]);
    this.cache.set(key, v);
    return v;
  }

  root(): WeightView {
    return new WeightView(this, "");
  }
}

function isFloat(e: Elem): boolean {
  return e === "float32" || e === "float16" || e === "bfloat16" || e === "float64";
}

function hintOf(key: string): string {
  return key.replace(/[^A-Za-z0-9_.]/g, "_");
}

export class WeightView {
  constructor(readonly store: WeightStore, readonly prefix: string) {}

  /** A view one level down: `vb.pp("encoder").pp(3)`. */
  pp(name: string | number): WeightView {
    return new WeightView(this.store, this.key(String(name)));
  }

  key(name: string): string {
    return this.prefix ? `${this.prefix}.${name}` : name;
  }

  get(name: string, shape: number[]): Value {
    return this.store.get(this.key(name), shape);
  }

  has(name: string): boolean {
    return this.store.has(this.key(name));
  }

  get graph(): Graph {
    return this.store.graph;
  }
}
