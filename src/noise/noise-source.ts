// The pipelines' single source of randomness, playing the role of diffusers' randn_tensor: every draw a
// pipeline or scheduler makes goes through NoiseSource.randn, in call order, so a run is reproducible from a
// seed (bit-exact with torch's CPU generator) or from a recording of the reference's draws.
import { randomInt } from "node:crypto";
import { TorchGenerator } from "./torch-generator.js";

export interface NoiseSource {
  /** Standard normal float32 tensor of `shape` (row-major); `drawnBy` names the caller, for error messages. */
  randn(shape: readonly number[], drawnBy: string): Float32Array;
}

const fmtShape = (shape: readonly number[]) => `[${shape.join(", ")}]`;

/** randn_tensor with generator=torch.Generator("cpu").manual_seed(seed). */
export class SeededNoise implements NoiseSource {
  readonly seed: number | bigint;
  private readonly generator: TorchGenerator;

  constructor(seed: number | bigint) {
    this.seed = seed;
    this.generator = new TorchGenerator(seed);
  }

  randn(shape: readonly number[], _drawnBy: string): Float32Array {
    return this.generator.randn(shape);
  }
}

/**
 * randn_tensor with a list of CPU generators, one per seed: row i of every draw comes from generator i
 * (randn of shape (1, ...shape[1:])). As in diffusers, a list of one generator draws the whole tensor.
 */
export class GeneratorListNoise implements NoiseSource {
  readonly seeds: readonly (number | bigint)[];
  private readonly generators: TorchGenerator[];

  constructor(seeds: readonly (number | bigint)[]) {
    if (seeds.length === 0) throw new RangeError("GeneratorListNoise: needs at least one seed");
    this.seeds = [...seeds];
    this.generators = seeds.map((s) => new TorchGenerator(s));
  }

  randn(shape: readonly number[], drawnBy: string): Float32Array {
    if (this.generators.length === 1) return this.generators[0].randn(shape);
    if (shape[0] !== this.generators.length) {
      throw new RangeError(
        `GeneratorListNoise: ${drawnBy} draws shape ${fmtShape(shape)}, whose batch size ${shape[0]} ` +
          `does not match the ${this.generators.length} generators`,
      );
    }
    const rowShape = [1, ...shape.slice(1)];
    const rows = this.generators.map((g) => g.randn(rowShape));
    const out = new Float32Array(rows.length * rows[0].length);
    rows.forEach((row, i) => out.set(row, i * row.length));
    return out;
  }
}

/** Replays recorded draws strictly in order, checking each requested shape against the recording. */
export class ReplayNoise implements NoiseSource {
  private readonly tensors: readonly { data: Float32Array; shape: readonly number[] }[];
  private next = 0;

  constructor(tensors: readonly { data: Float32Array; shape: readonly number[] }[]) {
    this.tensors = tensors;
  }

  /** Recorded draws not yet consumed. */
  get remaining(): number {
    return this.tensors.length - this.next;
  }

  randn(shape: readonly number[], drawnBy: string): Float32Array {
    const i = this.next;
    if (i >= this.tensors.length) {
      throw new Error(
        `ReplayNoise: draw ${i} by ${drawnBy} (shape ${fmtShape(shape)}) requested, ` +
          `but all ${this.tensors.length} recorded draws are used`,
      );
    }
    const t = this.tensors[i];
    if (t.shape.length !== shape.length || t.shape.some((d, k) => d !== shape[k])) {
      throw new Error(
        `ReplayNoise: draw ${i} by ${drawnBy} requested shape ${fmtShape(shape)}, ` +
          `but the recorded draw has shape ${fmtShape(t.shape)}`,
      );
    }
    this.next++;
    // A copy, so a caller updating its latents in place cannot alter the recording.
    return t.data.slice();
  }
}

/** A fresh random seed in [0, 2**32) (every distinct torch CPU stream), from the OS's CSPRNG. */
export function randomSeed(): number {
  return randomInt(2 ** 32);
}
