// Reader for a reference fixture set: cases.json + the safetensors file of its tensors.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SafetensorsFile } from "../weights/safetensors.js";
import type { HostTensor } from "../runtime/host-tensor.js";

export interface TensorRef {
  key: string;
  shape: number[];
  dtype?: string;
  semantic_dtype?: string;
}

export interface NoiseRef {
  key: string;
  shape: number[];
  drawn_by?: string;
  index: number;
}

export interface Case {
  id: string;
  kind: string;
  target: string;
  params: Record<string, any>;
  inputs: Record<string, TensorRef>;
  outputs: Record<string, TensorRef>;
  intermediates?: Record<string, TensorRef>;
  noise?: NoiseRef[];
  suggested_tolerance?: { atol: number; rtol: number; basis?: string };
  notes?: unknown;
}

export type { HostTensor };

export class CaseSet {
  readonly dir: string;
  readonly meta: Record<string, any>;
  readonly cases: Case[];
  private tensors: SafetensorsFile;

  constructor(dir: string) {
    this.dir = dir;
    this.meta = JSON.parse(readFileSync(join(dir, "cases.json"), "utf8"));
    this.cases = this.meta.cases;
    this.tensors = new SafetensorsFile(join(dir, this.meta.tensor_file ?? "cases.safetensors"));
  }

  get(id: string): Case {
    const c = this.cases.find((x) => x.id === id);
    if (!c) throw new Error(`${this.dir}: no case "${id}"`);
    return c;
  }

  tensor(ref: TensorRef | NoiseRef): HostTensor {
    return { data: this.tensors.readFloat32(ref.key), shape: ref.shape };
  }

  /** The case's recorded noise tensors in draw order. */
  noise(c: Case): HostTensor[] {
    return [...(c.noise ?? [])].sort((a, b) => a.index - b.index).map((n) => this.tensor(n));
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}
