// ONNX Runtime sessions for our graphs: created from the encoded bytes, with external data read from the
// checkpoint folder (after realpath, since ORT rejects symlinks out of the model folder), run, released.
// ONNX Runtime itself is loaded with the first session: a process that imports the library but leaves
// inference to the inference process (the CLI, the server, a library caller of Engine) never loads it. On CPU a
// session can be saved in ORT's final form and loaded from there by later processes (session-cache.ts).
import { join } from "node:path";
import type Ort from "onnxruntime-node";
import { MEMORY_FILE, type Graph } from "./graph.js";
import type { Elem } from "./onnx-schema.js";
import { cachedModel, commitEntry, DATA_FILE, dropEntry, MODEL_FILE, sessionKey, startEntry, type SessionCache } from "./session-cache.js";

export type Provider = "cpu" | "webgpu" | "cuda";
export const PROVIDERS: readonly Provider[] = ["cpu", "webgpu", "cuda"];

export interface SessionOptions {
  provider?: Provider;
  /** Intra-op threads; default: ORT's choice (all cores). */
  threads?: number;
  /** Pre-pack weights at load (faster small-batch MatMul, slower creation, a private copy of the weights). */
  prepack?: boolean;
  /** ORT's graph optimisation level; default "all" ("layout" and "all" add the CPU's blocked-layout convolutions). */
  optimization?: "disabled" | "basic" | "extended" | "layout" | "all";
  /** Keep the CPU memory arena (default on: peak activation memory stays allocated until release). */
  memoryArena?: boolean;
  /**
   * ORT's memory pattern: activation memory planned as one block per input shape. Default off: on the full-size
   * networks it raised peak RSS (MoVQ decode at 768x768: 8.3 vs 5.3 GB) and ran no faster.
   */
  memoryPattern?: boolean;
  /** Record ORT's per-node profile into a file whose path starts with this prefix (written by endProfiling). */
  profile?: string;
  /**
   * Save the session in ORT's final form in this folder and load it from there next time (CPU only; see
   * session-cache.ts). `extra`: settings the saved session depends on that the graph does not show.
   */
  cache?: { folder: string; extra?: Record<string, unknown> };
  /** Turns the graph into the one to run, when the session is created from it (not loaded from the cache). */
  prepare?: (graph: Graph) => Promise<void> | void;
}

export type TensorData = Float32Array | BigInt64Array | Int32Array | Uint8Array | Uint16Array;

export interface HostArray {
  data: TensorData;
  dims: readonly number[];
}

export type RunOutputs = Record<string, { data: TensorData; dims: number[] }>;
export type RunObserver = (out: RunOutputs, feeds: Record<string, HostArray>) => void;

let ort: typeof Ort;

async function loadOrt(): Promise<void> {
  if (ort) return;
  ort = (await import("onnxruntime-node")).default;
  // ORT's own log would print provider-probe failures (e.g. missing CUDA libraries) before our message;
  // failures reach us as exceptions anyway.
  ort.env.logLevel = "fatal";
}

const ORT_TYPE: Partial<Record<Elem, Ort.Tensor.Type>> = {
  float32: "float32", float16: "float16", int64: "int64", int32: "int32", bool: "bool", uint8: "uint8",
};

function toOrt(x: HostArray, elem?: Elem): Ort.Tensor {
  const type = elem ? ORT_TYPE[elem] : undefined;
  if (type) return new ort.Tensor(type, x.data as any, x.dims);
  return new ort.Tensor(x.data as any, x.dims);
}

export class Session {
  private constructor(
    private readonly inner: Ort.InferenceSession,
    readonly provider: Provider,
    private readonly inputElems: Map<string, Elem>,
    /** Loaded from a saved session rather than created from the graph. */
    readonly cached: boolean,
    /** Created from the graph and saved for later processes. */
    readonly saved = false,
  ) {}

  static async create(graph: Graph, opts: SessionOptions = {}): Promise<Session> {
    await loadOrt();
    const provider = opts.provider ?? "cpu";
    const elems = new Map(Object.entries(graph.inputElems));
    const cache: SessionCache | undefined = provider === "cpu" && opts.cache
      ? { folder: opts.cache.folder, key: sessionKey(graph, { ...opts.cache.extra, optimization: opts.optimization ?? "all", prepack: opts.prepack !== false }) }
      : undefined;
    const saved = cache && cachedModel(cache);
    if (saved) {
      try {
        // Already optimised: loading it again at a higher level would only redo work.
        const inner = await ort.InferenceSession.create(saved, sessionOptions(opts, provider, {}, "disabled"));
        return new Session(inner, provider, elems, true);
      } catch {
        // A damaged entry (or one removed while we read it): build afresh.
        dropEntry(cache!);
      }
    }
    await opts.prepare?.(graph);
    const session: Record<string, string> = {};
    if (graph.externalFolder) session.model_external_initializers_file_folder_path = graph.externalFolder;
    const options = sessionOptions(opts, provider, session);
    const memory = graph.memoryData();
    if (memory) options.externalData = [{ path: MEMORY_FILE, data: memory }];
    const tmp = cache && startEntry(cache);
    if (tmp) {
      options.optimizedModelFilePath = join(tmp, MODEL_FILE);
      Object.assign(session, {
        optimized_model_external_initializers_file_name: DATA_FILE,
        optimized_model_external_initializers_min_size_in_bytes: "1024",
      });
    }
    let inner: Ort.InferenceSession;
    try {
      inner = await ort.InferenceSession.create(Buffer.from(graph.encode()), options);
      if (tmp) commitEntry(cache!, tmp);
    } catch (e) {
      if (tmp) dropEntry({ folder: cache!.folder, key: tmp.slice(cache!.folder.length + 1) });
      throw e;
    }
    return new Session(inner, provider, elems, false, tmp !== undefined);
  }

  private observers: RunObserver[] = [];

  /** Calls `fn` after every run (calibration reads outputs the caller does not; the bench records calls). */
  observe(fn: RunObserver): void {
    this.observers.push(fn);
  }

  /** The element type a graph input declares. */
  inputElem(name: string): Elem | undefined {
    return this.inputElems.get(name);
  }

  get inputNames(): readonly string[] {
    return this.inner.inputNames;
  }

  async run(feeds: Record<string, HostArray>): Promise<RunOutputs> {
    const ortFeeds: Record<string, Ort.Tensor> = {};
    for (const name of this.inner.inputNames) {
      const f = feeds[name];
      if (!f) throw new Error(`missing input "${name}"`);
      ortFeeds[name] = toOrt(f, this.inputElems.get(name));
    }
    const out = await this.inner.run(ortFeeds);
    const res: RunOutputs = {};
    for (const [k, t] of Object.entries(out)) res[k] = { data: t.data as TensorData, dims: [...t.dims] };
    for (const fn of this.observers) fn(res, feeds);
    return res;
  }

  /** Writes the profile started by the `profile` option. */
  endProfiling(): void {
    this.inner.endProfiling();
  }

  async release(): Promise<void> {
    await this.inner.release();
  }
}

function sessionOptions(opts: SessionOptions, provider: Provider, session: Record<string, string>,
  level = opts.optimization ?? "all"): Ort.InferenceSession.SessionOptions {
  // `extra.session.<key>` reaches ORT as "session.<key>".
  if (opts.prepack === false) session.disable_prepacking = "1";
  const options: Ort.InferenceSession.SessionOptions = {
    executionProviders: [provider],
    graphOptimizationLevel: level,
    logSeverityLevel: 3,
    extra: { session },
  };
  if (opts.threads) options.intraOpNumThreads = opts.threads;
  if (opts.memoryArena === false) options.enableCpuMemArena = false;
  if (!opts.memoryPattern) options.enableMemPattern = false;
  if (opts.profile) Object.assign(options, { enableProfiling: true, profileFilePrefix: opts.profile });
  return options;
}

/**
 * Checks that a provider can start on this machine; returns the provider to use and, when falling back to
 * CPU, why. (A missing GPU or missing CUDA libraries make session creation fail.)
 */
export async function resolveProvider(requested: Provider): Promise<{ provider: Provider; warning?: string }> {
  if (requested === "cpu") return { provider: "cpu" };
  const { Graph } = await import("./graph.js");
  const g = new Graph("probe");
  const x = g.input("x", "float32", [1]);
  g.output(x.add(1), "y");
  try {
    const s = await Session.create(g, { provider: requested });
    await s.release();
    return { provider: requested };
  } catch (e) {
    // ORT prefixes some messages with its source location and a failed check; keep what it says after.
    const why = (e as Error).message.split("\n")[0].replace(/^\/\S+:\d+ .*? was false\. /, "");
    return { provider: "cpu", warning: `provider "${requested}" is not available (${why}); using cpu` };
  }
}
