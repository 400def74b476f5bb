// One bench measurement, run as its own process by bench/main.ts (so its peak RSS is its own and all its memory
// goes back when it exits): builds the graph, opens the session as the pipelines do (saved in / loaded from the
// cache folder when one is given; int8 when asked), runs it once to warm up, then times runs.
// Prints one line `BENCH_RESULT <json>`.
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildNetwork, openSession, weightBytes as networkBytes, type Network } from "../src/models/network.js";
import { Session, type HostArray, type Provider, type SessionOptions } from "../src/runtime/session.js";
import { countFlops } from "../src/runtime/flops.js";
import type { Graph } from "../src/runtime/graph.js";
import type { Precision } from "../src/runtime/precision.js";
import { relativeError } from "../src/runtime/compare.js";
import type { BuildOptions } from "../src/weights/weight-view.js";
import { ITEMS, itemDir, latentSize, makeFeeds } from "./items.js";
import { gemmFeeds, gemmGraph } from "./gemm.js";
import { opTimes } from "./profile.js";
import { benchRanges } from "./int8.js";

export interface MeasureRequest {
  /**
   * An item of ITEMS; "gemm:<n>:<chain>"; "sequence:<item>,<item>,..." — those items in this one process, one
   * call each, every session released before the next is created (the pipelines' low-memory order); or
   * "alternate:<item>" — its fp32 and int8 sessions in this one process, run in turn (`minRuns` each).
   */
  item: string;
  models: string;
  provider: Provider;
  build: BuildOptions;
  /** Weight file variant ("fp16"). */
  variant?: string;
  session: SessionOptions;
  /** Timed runs: at least `minRuns` and `minSeconds` (after one warm-up run), at most `maxRuns`. */
  minRuns: number;
  minSeconds: number;
  maxRuns: number;
  /** Record ORT's profile and report kernel time per op type. */
  profile?: boolean;
  /** "int8": the network's int8 form, calibrated on the bench's inputs (bench/int8.ts). Default "fp32". */
  precision?: Precision;
  /** Our cache folder (saved sessions, calibrations); absent: every session is created from its graph. */
  cacheRoot?: string;
  /** Only open the session (what a later process's load costs). */
  loadOnly?: boolean;
  /** fp32 writes its output here; int8 compares its own with it (relErr). */
  reference?: string;
}

export interface MeasureResult {
  item: string;
  /** Graph build + session creation. */
  loadMs: number;
  firstRunMs: number;
  /** Median of the timed runs. */
  runMs: number;
  runs: number;
  flops: number;
  byOp: Record<string, number>;
  /** Bytes of the weight files the graph reads. */
  weightBytes: number;
  rssAfterLoad: number;
  peakRss: number;
  /** With `profile`: kernel ms per run by op type. */
  opMs?: Record<string, number>;
  /** For a sequence: RSS after each session's release. */
  rssAfterRelease?: number[];
  /** The session was loaded from the cache folder / was saved there. */
  cached?: boolean;
  saved?: boolean;
  precision?: Precision;
  /** Relative error of the first output against `reference`. */
  relErr?: number;
  /** When `loadMs` is a later process's load: what creating and saving the session took. */
  firstLoadMs?: number;
  /** For "alternate": the fastest run of each precision, runs taken in turn in one process. */
  alternate?: { fp32Ms: number; int8Ms: number; runs: number; fp32CpuMs: number; int8CpuMs: number };
}

interface Prepared {
  graph: Graph;
  feeds: Record<string, HostArray>;
  weightBytes: number;
  /** Opens the session (for networks: as the pipelines do). */
  open(opts: SessionOptions): Promise<Session>;
}

function prepare(req: MeasureRequest, name: string): Prepared {
  if (name.startsWith("gemm:")) {
    const [n, chain] = name.split(":").slice(1).map(Number);
    const graph = gemmGraph(n, chain, req.build.compute);
    return { graph, feeds: gemmFeeds(n), weightBytes: 0, open: (opts) => Session.create(graph, opts) };
  }
  const item = ITEMS.find((i) => i.name === name);
  if (!item) throw new Error(`unknown bench item "${name}"`);
  const build = () => buildNetwork(item.spec, { dir: itemDir(req.models, item), variant: req.variant }, item.variant, req.build);
  const net: Network<any> = build();
  const dims = item.dims(net.config, latentSize(req.models));
  const feeds = (seed?: number) => makeFeeds(net.graph.inputElems, dims, item.ranges?.(net.config), seed);
  const open = async (opts: SessionOptions) => {
    const int8 = req.precision === "int8" ? await benchRanges(build(), feeds, req.cacheRoot, req.provider) : undefined;
    return openSession(net, { ...opts, cacheRoot: req.cacheRoot, int8 });
  };
  return { graph: net.graph, feeds: feeds(), weightBytes: networkBytes(net), open };
}

const shapes = (feeds: Record<string, HostArray>) => Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, v.dims]));

async function measure(req: MeasureRequest): Promise<MeasureResult> {
  if (req.item.startsWith("sequence:")) return sequence(req, req.item.slice("sequence:".length).split(","));
  if (req.item.startsWith("alternate:")) return alternate(req, req.item.slice("alternate:".length));
  const t0 = performance.now();
  const { graph, feeds, weightBytes, open } = prepare(req, req.item);
  // Counted on the float graph: the int8 rewrite computes the same products.
  const { total, byOp } = countFlops(graph, shapes(feeds));
  const profile = req.profile ? join(tmpdir(), `kandinsky-bench-${process.pid}-`) : undefined;
  const session = await open({ ...req.session, provider: req.provider, profile });
  const loadMs = performance.now() - t0;
  const rssAfterLoad = process.memoryUsage().rss;
  const result: MeasureResult = {
    item: req.item, loadMs, firstRunMs: 0, runMs: 0, runs: 0, flops: total, byOp, weightBytes, rssAfterLoad, peakRss: 0,
    cached: session.cached, saved: session.saved, precision: req.precision ?? "fp32",
  };
  if (!req.loadOnly) {
    let t = performance.now();
    const first = await session.run(feeds);
    result.firstRunMs = performance.now() - t;
    const out = first[graph.outputNames[0]].data as Float32Array;
    if (req.reference && result.precision === "fp32") writeFileSync(req.reference, out);
    if (req.reference && result.precision !== "fp32") {
      const ref = readFileSync(req.reference);
      result.relErr = relativeError(out, new Float32Array(ref.buffer, ref.byteOffset, ref.byteLength / 4));
    }
    const times: number[] = [];
    const start = performance.now();
    while (times.length < req.maxRuns && (times.length < req.minRuns || performance.now() - start < req.minSeconds * 1000)) {
      t = performance.now();
      await session.run(feeds);
      times.push(performance.now() - t);
    }
    if (profile) session.endProfiling();
    times.sort((a, b) => a - b);
    const mid = times.length >> 1;
    result.runMs = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
    result.runs = times.length;
    result.opMs = profile ? opTimes(profile) : undefined;
  }
  await session.release();
  result.peakRss = process.resourceUsage().maxRSS * 1024;
  return result;
}

/**
 * fp32 and int8 of one item in this process, one run of each in turn after a warm-up: the ratio of their fastest
 * runs holds up when other work on the machine comes and goes (separate processes would see different loads).
 */
async function alternate(req: MeasureRequest, name: string): Promise<MeasureResult> {
  const t0 = performance.now();
  const fp32 = prepare({ ...req, precision: "fp32" }, name);
  const int8 = prepare({ ...req, precision: "int8" }, name);
  const sessions = [await fp32.open({ ...req.session, provider: req.provider }), await int8.open({ ...req.session, provider: req.provider })];
  const loadMs = performance.now() - t0;
  const best = [Infinity, Infinity];
  const cpu = [Infinity, Infinity];
  const runs = Math.max(req.minRuns, 3);
  for (const s of sessions) await s.run(fp32.feeds);
  for (let i = 0; i < runs; i++) {
    for (const [k, s] of sessions.entries()) {
      const t = performance.now();
      const c = process.cpuUsage();
      await s.run(fp32.feeds);
      best[k] = Math.min(best[k], performance.now() - t);
      const used = process.cpuUsage(c);
      cpu[k] = Math.min(cpu[k], (used.user + used.system) / 1000);
    }
  }
  for (const s of sessions) await s.release();
  return {
    item: name, loadMs, firstRunMs: 0, runMs: best[1], runs, flops: 0, byOp: {}, weightBytes: fp32.weightBytes, rssAfterLoad: 0,
    peakRss: process.resourceUsage().maxRSS * 1024, precision: "int8",
    alternate: { fp32Ms: best[0], int8Ms: best[1], fp32CpuMs: cpu[0], int8CpuMs: cpu[1], runs },
  };
}

/** Items one after another in this process, one call each: the peak RSS of a pipeline that loads them in turn. */
async function sequence(req: MeasureRequest, names: string[]): Promise<MeasureResult> {
  const r: MeasureResult = {
    item: req.item, loadMs: 0, firstRunMs: 0, runMs: 0, runs: 1, flops: 0, byOp: {}, weightBytes: 0, rssAfterLoad: 0, peakRss: 0,
    rssAfterRelease: [],
  };
  for (const name of names) {
    let t = performance.now();
    const { graph, feeds, weightBytes, open } = prepare(req, name);
    const session = await open({ ...req.session, provider: req.provider });
    r.loadMs += performance.now() - t;
    r.rssAfterLoad = Math.max(r.rssAfterLoad, process.memoryUsage().rss);
    t = performance.now();
    await session.run(feeds);
    r.firstRunMs += performance.now() - t;
    await session.release();
    r.flops += countFlops(graph, shapes(feeds)).total;
    r.weightBytes = Math.max(r.weightBytes, weightBytes);
    r.rssAfterRelease!.push(process.memoryUsage().rss);
  }
  r.runMs = r.firstRunMs;
  r.peakRss = process.resourceUsage().maxRSS * 1024;
  return r;
}

measure(JSON.parse(process.argv[2]) as MeasureRequest).then(
  (r) => console.log(`BENCH_RESULT ${JSON.stringify(r)}`),
  (e: Error) => {
    console.error(`bench ${process.argv[2]}: ${e.stack ?? e.message}`);
    process.exitCode = 1;
  },
);
