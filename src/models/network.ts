// Builds a component's graph from its folder (config.json + weights), or from a config alone (shape-only,
// for inspection such as parameter counts).
import { statSync } from "node:fs";
import { Graph, type Dim, type Value } from "../runtime/graph.js";
import { Session, type SessionOptions } from "../runtime/session.js";
import { addRangeProbes, int8CacheExtra, quantizeGraph, RANGES_OUTPUT, type Int8Policy, type Ranges } from "../runtime/int8.js";
import { networkFolder } from "../runtime/session-cache.js";
import { Checkpoint } from "../weights/checkpoint.js";
import { readConfig } from "../weights/config.js";
import { WeightStore, type BuildOptions, type WeightView } from "../weights/weight-view.js";

export interface NetworkSpec<C, V = void> {
  /** Class names this spec builds (config `architectures[0]` or `_class_name`). */
  classes: string[];
  parseConfig(raw: Record<string, any>): C;
  /** Declares the graph's inputs, builds it, declares its outputs. */
  build(vb: WeightView, cfg: C, variant: V): void;
  /** The network's int8 form (runtime/int8.ts): which layers stay float. Absent: it always computes in float. */
  int8?: Int8Policy;
}

export interface Network<C> {
  graph: Graph;
  config: C;
  checkpoint: Checkpoint | null;
  /** The spec's int8 form, if it has one. */
  int8?: Int8Policy;
  /** Tells the network apart from others of its class: its component folder and graph variant. */
  id: string;
}

/** A float graph input: float32 at the graph's boundary, the compute dtype inside. */
export function floatInput(vb: WeightView, name: string, dims: Dim[]): Value {
  return vb.graph.input(name, "float32", dims).cast(vb.store.opts.compute);
}

/** A float graph output: float32 at the boundary whatever the compute dtype. */
export function floatOutput(v: Value, name: string): void {
  v.graph.output(v.cast("float32"), name);
}

export const DEFAULT_BUILD: BuildOptions = { compute: "float32", attention: "fused" };

export interface NetworkSource {
  /** Component folder (config.json + weights). */
  dir: string;
  /** Read weights (false: shape-only graph). */
  weights?: boolean;
  /** Weight file variant, e.g. "fp16". */
  variant?: string;
  /** A config to use instead of the folder's config.json. */
  config?: Record<string, any>;
}

export function buildNetwork<C, V>(spec: NetworkSpec<C, V>, src: NetworkSource, variant: V, opts: BuildOptions = DEFAULT_BUILD): Network<C> {
  const raw = src.config ?? readConfig<Record<string, any>>(src.dir);
  const config = spec.parseConfig(raw);
  const checkpoint = src.weights === false ? null : new Checkpoint(src.dir, src.variant);
  const graph = new Graph(spec.classes[0]);
  spec.build(new WeightStore(graph, checkpoint, opts).root(), config, variant);
  return { graph, config, checkpoint, int8: spec.int8, id: `${src.dir}|${JSON.stringify(variant ?? null)}` };
}

/**
 * Float networks with fewer weight bytes are not saved: they are created in a few seconds at most, and a saved copy
 * would only take disk space. int8 sessions are always saved (their creation quantizes the weights).
 */
export const CACHE_MIN_BYTES = 1 << 30;

export interface OpenOptions extends SessionOptions {
  /** Our cache folder: on CPU the session is saved there and later loaded from there (runtime/session-cache.ts). */
  cacheRoot?: string;
  /** Save float sessions from this many weight bytes on (default CACHE_MIN_BYTES). */
  cacheMinBytes?: number;
  /** Run the int8 form with these calibrated ranges. */
  int8?: Ranges;
}

export async function openSession<C>(net: Network<C>, opts: OpenOptions = {}): Promise<Session> {
  const { cacheRoot, cacheMinBytes = CACHE_MIN_BYTES, int8: ranges, ...session } = opts;
  if (ranges && !net.int8) throw new Error(`${net.graph.name} has no int8 form`);
  const name = `${net.graph.name}-${ranges ? "int8" : "fp32"}`;
  const worth = ranges !== undefined || weightBytes(net) >= cacheMinBytes;
  const cache = cacheRoot && worth && (session.provider ?? "cpu") === "cpu"
    ? { folder: networkFolder(name, net.id, cacheRoot), extra: ranges && int8CacheExtra(ranges) }
    : undefined;
  return Session.create(net.graph, { ...session, cache, prepare: ranges && ((g) => quantizeGraph(g, net.int8!, ranges)) });
}

/** Bytes of the weight files a network reads. */
export function weightBytes(net: Network<unknown>): number {
  return net.checkpoint?.files.reduce((a, f) => a + statSync(f.path).size, 0) ?? 0;
}

/**
 * A float session of a network with an int8 form that reports its convolutions' ranges on every run (`record`
 * receives them, with the layer keys), for calibration.
 */
export async function openCalibrationSession<C>(net: Network<C>, opts: SessionOptions,
  record: (keys: string[], ranges: Float32Array) => void): Promise<Session> {
  if (!net.int8) throw new Error(`${net.graph.name} has no int8 form`);
  const keys = addRangeProbes(net.graph, net.int8);
  // A few calls: the "extended" level loads in seconds (no blocked-layout rewrite).
  const session = await Session.create(net.graph, { ...opts, optimization: "extended" });
  session.observe((out) => record(keys, out[RANGES_OUTPUT].data as Float32Array));
  return session;
}
