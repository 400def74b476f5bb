// torch.Generator("cpu") re-implemented bit-exactly (torch 1.13, x86-64 AVX2 kernels): an MT19937 engine
// seeded with the low 32 bits of the seed, and torch's randn / rand / randint draw procedures on top of it.
// See fixtures kandinsky21/seeds/README.md for the procedure this follows.
import { logf, sincosf } from "../f32/avx-mathfun.js";

const N = 624;
const M = 397;
const TWO_PI = 2 * Math.PI;
const TWO_PI_F32 = Math.fround(2 * Math.PI);
const TWO_POW_32 = 2 ** 32;
const TWO_POW_24 = 2 ** 24;
const TWO_POW_53 = 2 ** 53;
/** randn switches to the vectorised float32 kernel from this many elements on. */
const VECTOR_MIN = 16;

/** Any integer seed (number or bigint), negative or ≥ 2**64 included, wrapped the way torch does. */
function seedWord(seed: number | bigint): number {
  if (typeof seed === "number" && !Number.isInteger(seed)) {
    throw new RangeError(`TorchGenerator: seed must be an integer, got ${seed}`);
  }
  // torch reduces the seed modulo 2**64, and mt19937 keeps only the low 32 bits of that.
  return Number(BigInt.asUintN(32, BigInt(seed)));
}

function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`TorchGenerator: invalid shape [${shape.join(", ")}]`);
    n *= d;
  }
  return n;
}

export class TorchGenerator {
  private readonly mt = new Uint32Array(N);
  private index = N;
  /** Second value of the last scalar Box–Muller pair, consumed by the next scalar randn element. */
  private cachedNormal: number | null = null;
  /** Scratch for sincos results and tail uniforms, so the hot loops allocate nothing. */
  private readonly cosSin = new Float64Array(2);
  private readonly tail = new Float32Array(VECTOR_MIN);

  constructor(seed: number | bigint) {
    this.manualSeed(seed);
  }

  manualSeed(seed: number | bigint): void {
    const mt = this.mt;
    mt[0] = seedWord(seed);
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1];
      mt[i] = (Math.imul(1812433253, prev ^ (prev >>> 30)) + i) >>> 0;
    }
    this.index = N;
    this.cachedNormal = null;
  }

  /** Standard normal float32 samples, row-major over `shape`, as torch.randn(shape, generator=g). */
  randn(shape: readonly number[]): Float32Array {
    const n = numelOf(shape);
    const out = new Float32Array(n);
    if (n >= VECTOR_MIN) this.fillNormalVector(out);
    else for (let i = 0; i < n; i++) out[i] = this.nextNormalScalar();
    return out;
  }

  /** Uniform float32 samples in [0, 1), as torch.rand(shape, generator=g). */
  rand(shape: readonly number[]): Float32Array {
    const out = new Float32Array(numelOf(shape));
    this.fillUniform24(out);
    return out;
  }

  /** Integers in [low, high), as torch.randint(low, high, shape, generator=g) (int64). */
  randint(low: number, high: number, shape: readonly number[]): BigInt64Array {
    if (!Number.isSafeInteger(low) || !Number.isSafeInteger(high) || high <= low) {
      throw new RangeError(`TorchGenerator.randint: need integers low < high, got low=${low}, high=${high}`);
    }
    const range = high - low;
    const out = new BigInt64Array(numelOf(shape));
    if (range < TWO_POW_32) {
      for (let i = 0; i < out.length; i++) out[i] = BigInt(low + (this.next32() % range));
    } else {
      const lo = BigInt(low), r = BigInt(range);
      for (let i = 0; i < out.length; i++) out[i] = lo + (this.next64() % r);
    }
    return out;
  }

  /** Next tempered 32-bit MT19937 output. */
  private next32(): number {
    if (this.index >= N) this.twist();
    let y = this.mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** torch's random64(): two consecutive 32-bit outputs, the first one high. */
  private next64(): bigint {
    const hi = this.next32();
    return (BigInt(hi) << 32n) | BigInt(this.next32());
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < N; i++) {
      const y = (mt[i] & 0x80000000) | (mt[(i + 1) % N] & 0x7fffffff);
      mt[i] = mt[(i + M) % N] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }

  /** Float32 uniforms from the low 24 bits of one 32-bit draw each (exact in float32). */
  private fillUniform24(out: Float32Array): void {
    for (let i = 0; i < out.length; i++) out[i] = (this.next32() & 0xffffff) / TWO_POW_24;
  }

  /** Double uniform from the low 53 bits of random64(). */
  private nextUniform53(): number {
    const hi = this.next32() & 0x1fffff;
    return (hi * TWO_POW_32 + this.next32()) / TWO_POW_53;
  }

  /** torch's scalar (double) Box–Muller: radius from the second uniform, angle from the first, one cached. */
  private nextNormalScalar(): number {
    if (this.cachedNormal !== null) {
      const c = this.cachedNormal;
      this.cachedNormal = null;
      return c;
    }
    const u1 = this.nextUniform53();
    const u2 = this.nextUniform53();
    const r = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = TWO_PI * u1;
    this.cachedNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /**
   * torch's vectorised float32 randn (n ≥ 16): n uniforms transformed in blocks of 16 (pairs j, j+8); if n is
   * not a multiple of 16, 16 more uniforms are drawn and their block overwrites the last 16 outputs.
   */
  private fillNormalVector(out: Float32Array): void {
    const n = out.length;
    this.fillUniform24(out);
    for (let i = 0; i + VECTOR_MIN <= n; i += VECTOR_MIN) this.boxMuller16(out, i, out, i);
    if (n % VECTOR_MIN !== 0) {
      this.fillUniform24(this.tail);
      this.boxMuller16(this.tail, 0, out, n - VECTOR_MIN);
    }
  }

  /** One AVX2 block: uniforms u[src..src+15] → normals out[dst..dst+15] (src may alias dst). */
  private boxMuller16(u: Float32Array, src: number, out: Float32Array, dst: number): void {
    const cs = this.cosSin;
    for (let j = 0; j < 8; j++) {
      const a = u[src + j];
      const b = u[src + j + 8];
      const radius = Math.sqrt(-2 * logf(1 - a)); // 1 - a and -2·L are exact; sqrt rounds once to float32 below
      sincosf(Math.fround(TWO_PI_F32 * b), cs);
      out[dst + j] = Math.fround(radius) * cs[0];
      out[dst + j + 8] = Math.fround(radius) * cs[1];
    }
  }
}
