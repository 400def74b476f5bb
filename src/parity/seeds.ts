// Runner for the torch random-stream fixtures (format "kandinsky21-seed-cases/v1"): replays every case's ops on
// fresh TorchGenerators and compares each drawn tensor with the recorded one.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SafetensorsFile } from "../weights/safetensors.js";
import { TorchGenerator } from "../noise/torch-generator.js";
import { GeneratorListNoise } from "../noise/noise-source.js";
import { compare, type CaseResult, type Comparison } from "./report.js";

const FORMAT = "kandinsky21-seed-cases/v1";
/** Bit-exact is the goal; float draws are required within this (randint must match exactly). */
const FLOAT_ATOL = 2e-6;

type Seed = number | bigint;

interface SeedOp {
  fn: string;
  shape: number[];
  key: string;
  low?: number;
  high?: number;
}

interface SeedCase {
  name: string;
  seed?: Seed;
  seeds?: Seed[];
  ops: SeedOp[];
}

/**
 * JSON.parse that keeps integers beyond 2**53 exact, as bigint (seeds such as 6198706532094931393 would
 * otherwise be rounded, changing their low 32 bits). String literals are matched first so they stay untouched.
 */
function parseJsonExactInts(text: string): any {
  const marked = text.replace(/"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g, (tok) =>
    /^-?\d+$/.test(tok) && !Number.isSafeInteger(Number(tok)) ? `{"$bigint":"${tok}"}` : tok,
  );
  return JSON.parse(marked, (_k, v) =>
    v !== null && typeof v === "object" && typeof v.$bigint === "string" ? BigInt(v.$bigint) : v,
  );
}

function readCases(dir: string): { meta: Record<string, any>; cases: SeedCase[] } {
  const meta = parseJsonExactInts(readFileSync(join(dir, "cases.json"), "utf8"));
  return { meta, cases: meta.cases };
}

export function isSeedSet(dir: string): boolean {
  if (!existsSync(join(dir, "cases.json"))) return false;
  try {
    return JSON.parse(readFileSync(join(dir, "cases.json"), "utf8")).format === FORMAT;
  } catch {
    return false;
  }
}

/** Largest |a - b| over two int64 tensors, or Infinity when their lengths differ. */
function maxAbsDiffInt64(a: BigInt64Array, b: BigInt64Array): number {
  if (a.length !== b.length) return Infinity;
  let m = 0n;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] > b[i] ? a[i] - b[i] : b[i] - a[i];
    if (d > m) m = d;
  }
  return Number(m);
}

function runCase(c: SeedCase, tensors: SafetensorsFile): CaseResult {
  const floats: Comparison[] = [];
  const bad: string[] = [];
  let intWorst = 0;
  const generator = c.seed !== undefined ? new TorchGenerator(c.seed) : null;
  const needGenerator = (op: SeedOp): TorchGenerator => {
    if (!generator) throw new Error(`case ${c.name}: op "${op.fn}" needs a "seed"`);
    return generator;
  };

  for (const [i, op] of c.ops.entries()) {
    const info = tensors.tensors.get(op.key);
    if (!info) throw new Error(`${tensors.path}: no tensor "${op.key}" for case ${c.name}`);
    const name = `${i}:${op.fn}`;
    switch (op.fn) {
      case "randn":
      case "rand":
      case "randn_tensor_generator_list": {
        if (info.dtype !== "F32") throw new Error(`${op.key}: expected an F32 tensor, found ${info.dtype}`);
        let actual: Float32Array;
        if (op.fn === "randn") actual = needGenerator(op).randn(op.shape);
        else if (op.fn === "rand") actual = needGenerator(op).rand(op.shape);
        else {
          if (!c.seeds) throw new Error(`case ${c.name}: op "${op.fn}" needs "seeds"`);
          actual = new GeneratorListNoise(c.seeds).randn(op.shape, `case ${c.name} op ${i}`);
        }
        floats.push({
          name,
          expected: { data: tensors.readFloat32(op.key), shape: info.shape },
          actual: { data: actual, shape: op.shape },
          atol: FLOAT_ATOL,
        });
        break;
      }
      case "randint": {
        if (info.dtype !== "I64") throw new Error(`${op.key}: expected an I64 tensor, found ${info.dtype}`);
        if (op.low === undefined || op.high === undefined) throw new Error(`${op.key}: randint op without low/high`);
        const actual = needGenerator(op).randint(op.low, op.high, op.shape);
        if (info.shape.join("x") !== op.shape.join("x")) {
          bad.push(`${name}: shape ${op.shape.join("x")}, expected ${info.shape.join("x")}`);
          break;
        }
        const raw = tensors.readBytes(op.key);
        const expected = new BigInt64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
        const d = maxAbsDiffInt64(actual, expected);
        intWorst = Math.max(intWorst, d);
        if (d !== 0) bad.push(`${name}: int64 values differ (max_abs=${d})`);
        break;
      }
      default:
        bad.push(`${name}: unknown fn "${op.fn}"`);
    }
  }

  const atol = floats.length ? FLOAT_ATOL : 0;
  const r = compare(floats, atol);
  const detail = [r.detail, ...bad].filter(Boolean).join("; ");
  const maxAbs = Math.max(r.maxAbs ?? 0, intWorst);
  return detail ? { status: "FAIL", maxAbs, atol, detail } : { status: "PASS", maxAbs, atol };
}

/** One result per case (id = case name); `only` keeps the cases whose name starts with one of its prefixes. */
export async function* runSeedCases(dir: string, only?: string[]): AsyncGenerator<{ id: string; result: CaseResult }> {
  const { meta, cases } = readCases(dir);
  if (meta.format !== FORMAT) throw new Error(`${dir}: cases.json format is ${JSON.stringify(meta.format)}, expected "${FORMAT}"`);
  const tensors = new SafetensorsFile(join(dir, meta.tensors_file ?? "tensors.safetensors"));
  for (const c of cases) {
    if (only && !only.some((p) => c.name.startsWith(p))) continue;
    let result: CaseResult;
    try {
      result = runCase(c, tensors);
    } catch (e) {
      result = { status: "FAIL", detail: (e as Error).message };
    }
    yield { id: c.name, result };
  }
}
