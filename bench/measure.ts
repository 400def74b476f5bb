// One bench measurement, run as its own process by bench/main.ts (so its peak RSS is its own and all its memory
// goes back when it exits): builds the graph, creates the session, runs it once to warm up, then times runs.
// Prints one line `BENCH_RESULT <json>`.
import { statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildNetwork } from "../src/models/network.js";
import { Session, type HostArray, type Provider, type SessionOptions } from "../src/runtime/session.js";
import { countFlops } from "../src/runtime/flops.js";
import type { Graph } from "../src/runtime/graph.js";
import type { BuildOptions } from "../src/weights/weight-view.js";
import { ITEMS, itemDir, latentSize, makeFeeds } from "./items.js";
import { gemmFeeds, gemmGraph } from "./gemm.js";
import { opTimes } from "./profile.js";

export interface MeasureRequest {
  /**
   * An item of ITEMS; "gemm:<n>:<chain>"; or "sequence:<item>,<item>,..." — those items in this one process, one
   * call each, every session released before the next is created (the pipelines' low-memory order).
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
}

function prepare(req: MeasureRequest, name: string): { graph: Graph; feeds: Record<string, HostArray>; weightBytes: number } {
  if (name.startsWith("gemm:")) {
    const [n, chain] = name.split(":").slice(1).map(Number);
    return { graph: gemmGraph(n, chain, req.build.compute), feeds: gemmFeeds(n), weightBytes: 0 };
  }
  const item = ITEMS.find((i) => i.name === name);
  if (!item) throw new Error(`unknown bench item "${name}"`);
  const net = buildNetwork(item.spec, { dir: itemDir(req.models, item), variant: req.variant }, item.variant, req.build);
  const dims = item.dims(net.config, latentSize(req.models));
  const weightBytes = net.checkpoint!.files.reduce((a, f) => a + statSync(f.path).size, 0);
  return { graph: net.graph, feeds: makeFeeds(net.graph.inputElems, dims, item.ints?.(net.config)), weightBytes };
}

const shapes = (feeds: Record<string, HostArray>) => Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, v.dims]));

async function measure(req: MeasureRequest): Promise<MeasureResult> {
  if (req.item.startsWith("sequence:")) return sequence(req, req.item.slice("sequence:".length).split(","));
  const t0 = performance.now();
  const { graph, feeds, weightBytes } = prepare(req, req.item);
  const profile = req.profile ? join(tmpdir(), `kandinsky-bench-${process.pid}-`) : undefined;
  const session = await Session.create(graph, { ...req.session, provider: req.provider, profile });
  const loadMs = performance.now() - t0;
  const rssAfterLoad = process.memoryUsage().rss;
  const { total, byOp } = countFlops(graph, shapes(feeds));

  let t = performance.now();
  await session.run(feeds);
  const firstRunMs = performance.now() - t;
  const times: number[] = [];
  const start = performance.now();
  while (times.length < req.maxRuns && (times.length < req.minRuns || performance.now() - start < req.minSeconds * 1000)) {
    t = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t);
  }
  if (profile) session.endProfiling();
  await session.release();
  times.sort((a, b) => a - b);
  const mid = times.length >> 1;
  const runMs = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
  return {
    item: req.item, loadMs, firstRunMs, runMs, runs: times.length, flops: total, byOp, weightBytes, rssAfterLoad,
    peakRss: process.resourceUsage().maxRSS * 1024,
    opMs: profile ? opTimes(profile) : undefined,
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
    const { graph, feeds, weightBytes } = prepare(req, name);
    const session = await Session.create(graph, { ...req.session, provider: req.provider });
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
