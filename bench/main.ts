#!/usr/bin/env node
// npm run bench -- [--provider cpu|webgpu|cuda] [--quick] [--only <item>,...] [--models <dir>] ... (--help lists all)
//
// Full-size measurements on random weights (written once by random-set.ts): every network call of the seed
// model's default job, each in its own process (so peak RSS is per component), with FLOPs counted from the
// emitted graph and the provider's GEMM peak measured through the same runtime. Prints a table, then one line
// of key=value pairs. With the item "cluster" (also in the full run), the cluster on the tiny models (cluster.ts).
import { execFile, spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import os, { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { PROVIDERS, resolveProvider, type Provider, type SessionOptions } from "../src/runtime/session.js";
import { PRECISIONS, type Precision } from "../src/runtime/precision.js";
import { cacheRoot } from "../src/runtime/session-cache.js";
import { buildOptionsFor } from "../src/pipelines/components.js";
import { resolveRequest } from "../src/request/resolve.js";
import type { BuildOptions } from "../src/weights/weight-view.js";
import { clusterBench } from "./cluster.js";
import { ITEMS } from "./items.js";
import { DEFAULT_OUT, ensureRandomModels } from "./random-set.js";
import type { MeasureRequest, MeasureResult } from "./measure.js";
import { TINY_SET, type QualityResult } from "./quality.js";
import { estimateDefaultJob, formatReport, gflops, jobPlan } from "./report.js";

/** The default job: a request with every default. */
const DEFAULT_JOB = resolveRequest({ prompt: "a default job" });

/** Square MatMul sizes (n, products per run) for the peak: larger chains on GPUs to amortise transfers. */
const GEMMS: Record<"cpu" | "gpu", [number, number][]> = {
  cpu: [[1024, 1], [2048, 1], [4096, 1]],
  gpu: [[2048, 32], [4096, 16]],
};

interface Options {
  provider: string;
  quick?: boolean;
  only?: string;
  models: string;
  configs?: string;
  fp16?: boolean;
  attention?: string;
  threads?: string;
  prepack: boolean;
  optLevel?: string;
  arena: boolean;
  pattern?: boolean;
  runs: string;
  seconds: string;
  profile?: boolean;
  clusterJobs: string;
  clusterSteps: string;
  precision: string;
  cache: boolean;
  quality?: boolean;
  qualitySize: string;
}

/** Runs a bench script in its own process; resolves with the JSON of its `<tag> {...}` line. */
function run<T>(script: string, args: string[], tag: string, what: string): Promise<T> {
  const file = fileURLToPath(new URL(script, import.meta.url));
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [file, ...args], { maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      const line = stdout.split("\n").find((l) => l.startsWith(`${tag} `));
      if (err || !line) reject(new Error(`${what}: ${stderr.trim() || err?.message || "no result"}`));
      else resolve(JSON.parse(line.slice(tag.length + 1)) as T);
    });
  });
}

const child = (req: MeasureRequest) => run<MeasureResult>("./measure.js", [JSON.stringify(req)], "BENCH_RESULT", req.item);

async function main(o: Options): Promise<void> {
  if (!PROVIDERS.includes(o.provider as Provider)) throw new Error(`--provider must be one of ${PROVIDERS.join(", ")}`);
  const { provider, warning } = await resolveProvider(o.provider as Provider);
  if (warning) console.error(`bench: ${warning}`);
  const build: BuildOptions = { ...buildOptionsFor(provider) };
  if (o.attention) {
    if (o.attention !== "fused" && o.attention !== "plain") throw new Error("--attention must be fused or plain");
    build.attention = o.attention;
  }
  const fp16 = o.fp16 ?? build.compute === "float16";
  if (fp16) build.compute = "float16";

  const only = o.only?.split(",").filter(Boolean);
  if (!o.quick && (!only || only.includes("cluster"))) {
    if (spawnSync("redis-server", ["--version"]).error) console.log("cluster: skipped (no redis-server; apt-get install redis-server)");
    else console.log(await clusterBench({ jobs: Number(o.clusterJobs), steps: Number(o.clusterSteps), probes: 10 }));
    if (only && only.every((n) => n === "cluster")) return;
  }
  const names = o.quick ? ["unet512"] : only ? only.filter((n) => !["gemm", "sequence", "cluster"].includes(n)) : ITEMS.map((i) => i.name);
  const items = names.map((n) => {
    const item = ITEMS.find((i) => i.name === n);
    if (!item) throw new Error(`unknown item "${n}" (known: ${ITEMS.map((i) => i.name).join(", ")}, gemm, sequence, cluster)`);
    return item;
  });
  const withGemm = o.quick || !only || only.includes("gemm");
  ensureRandomModels(o.models, { configs: o.configs, fp16, only: [...new Set(["decoder/movq", ...items.map((i) => i.component)])], log: (l) => console.error(l) });

  const session: SessionOptions = {
    ...(o.threads ? { threads: Number(o.threads) } : {}),
    ...(o.prepack ? {} : { prepack: false }),
    ...(o.optLevel ? { optimization: o.optLevel as SessionOptions["optimization"] } : {}),
    ...(o.arena ? {} : { memoryArena: false }),
    ...(o.pattern ? { memoryPattern: true } : {}),
  };
  if (!PRECISIONS.includes(o.precision as Precision)) throw new Error(`--precision must be one of ${PRECISIONS.join(", ")}`);
  const precision = o.precision as Precision;
  const base = {
    models: o.models, provider, build, variant: fp16 ? "fp16" : undefined, session,
    minRuns: Number(o.runs), minSeconds: Number(o.seconds), maxRuns: 20, profile: o.profile,
    cacheRoot: o.cache ? cacheRoot() : undefined,
  };
  // Each result is also logged as it comes, so an interrupted run still shows what it measured. A session that was
  // created and saved is opened once more in a new process: that load is what every later run pays.
  const measure = async (req: MeasureRequest) => {
    const r = await child(req);
    if (r.saved) {
      r.firstLoadMs = r.loadMs;
      r.loadMs = (await child({ ...req, loadOnly: true })).loadMs;
    }
    const first = r.firstLoadMs ? ` (first ${(r.firstLoadMs / 1000).toFixed(2)} s)` : "";
    const err = r.relErr !== undefined ? `, rel. error ${r.relErr.toExponential(2)}` : "";
    console.error(`${r.item} ${r.precision ?? ""}: load ${(r.loadMs / 1000).toFixed(2)} s${first}, run ${r.runMs.toFixed(1)} ms, ` +
      `${gflops(r).toFixed(1)} GFLOP/s, peak RSS ${(r.peakRss / 1e9).toFixed(2)} GB${err}`);
    return r;
  };
  // With --precision int8 an item that has an int8 form is measured in fp32, then in int8 against it (load, memory,
  // error), then both in one process in turn (their speed ratio).
  const measureItem = async (item: (typeof ITEMS)[number]) => {
    if (precision !== "int8" || !item.spec.int8) return [await measure({ ...base, item: item.name })];
    const reference = join(tmpdir(), `kandinsky-bench-${process.pid}-${item.name}.f32`);
    try {
      const fp32 = await measure({ ...base, item: item.name, reference });
      const int8 = await measure({ ...base, item: item.name, precision, reference });
      const { alternate } = await child({ ...base, item: `alternate:${item.name}` });
      console.error(`${item.name} in turn in one process: fp32 ${alternate!.fp32Ms.toFixed(1)} ms, int8 ${alternate!.int8Ms.toFixed(1)} ms ` +
        `(fastest of ${alternate!.runs} each), int8/fp32 ${(alternate!.int8Ms / alternate!.fp32Ms).toFixed(3)} ` +
        `(CPU time ${(alternate!.int8CpuMs / alternate!.fp32CpuMs).toFixed(3)})`);
      return [fp32, { ...int8, alternate }];
    } finally {
      rmSync(reference, { force: true });
    }
  };
  // The GEMM peak is measured before and after the networks, the higher counting, so that a burst of other load
  // on the machine during one of them does not understate it.
  const gemmPass = async () => {
    const out: MeasureResult[] = [];
    if (withGemm) for (const [n, chain] of GEMMS[provider === "cpu" ? "cpu" : "gpu"]) out.push(await measure({ ...base, item: `gemm:${n}:${chain}` }));
    return out;
  };
  const loadavg = () => os.loadavg()[0].toFixed(2);
  const loadStart = loadavg();
  const gemms = await gemmPass();
  const results: MeasureResult[] = [];
  for (const item of items) results.push(...(await measureItem(item)));
  const plan = jobPlan(DEFAULT_JOB).map(([name]) => name);
  if (plan.every((name) => names.includes(name)) && (!only || only.includes("sequence"))) {
    results.push(await measure({ ...base, item: `sequence:${plan.join(",")}` }));
  }
  if (items.length) gemms.push(...(await gemmPass()));
  // int8 against fp32 over a whole decoder job: on the tiny set with --quick, on it and the full-size set with --quality.
  const qualities: QualityResult[] = [];
  if (precision === "int8" && (o.quick || o.quality)) {
    const sets = o.quality ? [TINY_SET, o.models] : [TINY_SET];
    if (o.quality) ensureRandomModels(o.models, { configs: o.configs, only: ["decoder/text_encoder", "decoder/unet", "decoder/movq"], log: (l) => console.error(l) });
    for (const set of sets) {
      const args = [set, "--size", o.qualitySize, ...(o.cache ? [] : ["--no-cache"])];
      const q = await run<QualityResult>("./quality.js", args, "QUALITY_RESULT", `quality ${set}`);
      console.error(`quality ${q.set}: UNet step error up to ${Math.max(...q.stepErr).toExponential(2)}, final latents ${q.latentsErr.toExponential(2)}, ` +
        `image PSNR ${q.psnr.toFixed(2)} dB, ${q.seconds.toFixed(0)} s`);
      qualities.push(q);
    }
  }
  const settings = `provider=${provider} compute=${build.compute} attention=${build.attention} weights=${fp16 ? "fp16" : "fp32"} ` +
    `threads=${session.threads ?? "default"} prepack=${session.prepack !== false} optimization=${session.optimization ?? "all"} ` +
    `arena=${session.memoryArena !== false} pattern=${session.memoryPattern === true} cores=${os.availableParallelism()} ` +
    `precision=${precision} cache=${base.cacheRoot ?? "off"} loadavg=${loadStart}..${loadavg()}`;
  // The job estimate at the asked precision: the fp32 measurements of items measured twice are left out.
  const job = estimateDefaultJob(results.filter((r) => !results.some((x) => x !== r && x.item === r.item && r.precision === "fp32")), DEFAULT_JOB);
  console.log(formatReport(ITEMS, results, gemms, job, settings, qualities));
}

const program = new Command("bench")
  .description("full-size measurements of every network on random weights")
  .option("--provider <name>", "execution provider", "cpu")
  .option("--quick", "only the 512x512 UNet step and the GEMM peak")
  .option("--only <items>", `comma-separated items: ${ITEMS.map((i) => i.name).join(", ")}, gemm, sequence (with the job's items), cluster (1 vs 2 workers on Redis)`)
  .option("--models <dir>", "random-weight model set (written when missing)", DEFAULT_OUT)
  .option("--configs <dir>", "configs of the set to write (default: ../shared/fixtures/kandinsky21/full-configs)")
  .option("--fp16", "fp16 weights and compute (the default on GPU providers)")
  .option("--attention <form>", "attention form: fused or plain (default: fused on cpu, plain on GPUs)")
  .option("--threads <n>", "intra-op threads (default: ORT's choice)")
  .option("--no-prepack", "disable weight pre-packing")
  .option("--opt-level <level>", "graph optimisation level: disabled, basic, extended, layout, all")
  .option("--no-arena", "disable the CPU memory arena")
  .option("--pattern", "enable ORT's memory pattern (one planned block per input shape)")
  .option("--runs <n>", "minimum timed runs per item", "3")
  .option("--seconds <s>", "minimum timed seconds per item", "3")
  .option("--profile", "report ORT kernel time per op type")
  .option("--cluster-jobs <n>", "cluster: predictions per throughput run", "12")
  .option("--cluster-steps <n>", "cluster: decoder steps of each (tiny models, 128x128)", "20")
  .option("--precision <p>", `${PRECISIONS.join(" or ")}: with int8, networks that have an int8 form are measured in fp32 and int8`, "fp32")
  .option("--no-cache", "create every session from its graph (no saved sessions, no stored calibrations)")
  .option("--quality", "with --precision int8: compare whole decoder jobs (25 steps) in both precisions on the tiny set and the full-size set")
  .option("--quality-size <px>", "image size of those jobs", String(DEFAULT_JOB.width))
  .action((o: Options) => main(o));

program.parseAsync().catch((e: Error) => {
  console.error(`bench: ${e.message}`);
  process.exitCode = 1;
});
