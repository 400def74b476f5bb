// Builds a component's graph from its folder (config.json + weights), or from a config alone (shape-only,
// for inspection such as parameter counts).
import { Graph, type Dim, type Value } from "../runtime/graph.js";
import { Session, type SessionOptions } from "../runtime/session.js";
import { Checkpoint } from "../weights/checkpoint.js";
import { readConfig } from "../weights/config.js";
import { WeightStore, type BuildOptions, type WeightView } from "../weights/weight-view.js";

export interface NetworkSpec<C, V = void> {
  /** Class names this spec builds (config `architectures[0]` or `_class_name`). */
  classes: string[];
  parseConfig(raw: Record<string, any>): C;
  /** Declares the graph's inputs, builds it, declares its outputs. */
  build(vb: WeightView, cfg: C, variant: V): void;
}

export interface Network<C> {
  graph: Graph;
  config: C;
  checkpoint: Checkpoint | null;
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
  return { graph, config, checkpoint };
}

export async function openSession<C>(net: Network<C>, opts?: SessionOptions): Promise<Session> {
  return Session.create(net.graph, opts);
}
