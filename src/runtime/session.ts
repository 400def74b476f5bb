// ONNX Runtime sessions for our graphs: created from the encoded bytes, with external data read from the
// checkpoint folder (after realpath, since ORT rejects symlinks out of the model folder), run, released.
// ONNX Runtime itself is loaded with the first session: a process that imports the library but leaves
// inference to the inference process (the CLI, the server, a library caller of Engine) never loads it.
import type Ort from "onnxruntime-node";
import type { Graph } from "./graph.js";
import type { Elem } from "./onnx-schema.js";

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
}

export type TensorData = Float32Array | BigInt64Array | Int32Array | Uint8Array | Uint16Array;

export interface HostArray {
  data: TensorData;
  dims: readonly number[];
}

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
  ) {}

  static async create(graph: Graph, opts: SessionOptions = {}): Promise<Session> {
    await loadOrt();
    const provider = opts.provider ?? "cpu";
    const session: Record<string, string> = {};
    if (graph.externalFolder) session.model_external_initializers_file_folder_path = graph.externalFolder;
    if (opts.prepack === false) session["session.disable_prepacking"] = "1";
    const options: Ort.InferenceSession.SessionOptions = {
      executionProviders: [provider],
      graphOptimizationLevel: opts.optimization ?? "all",
      logSeverityLevel: 3,
      extra: { session },
    };
    if (opts.threads) options.intraOpNumThreads = opts.threads;
    if (opts.memoryArena === false) options.enableCpuMemArena = false;
    if (!opts.memoryPattern) options.enableMemPattern = false;
    if (opts.profile) Object.assign(options, { enableProfiling: true, profileFilePrefix: opts.profile });
    const inner = await ort.InferenceSession.create(Buffer.from(graph.encode()), options);
    return new Session(inner, provider, new Map(Object.entries(graph.inputElems)));
  }

  /** The element type a graph input declares. */
  inputElem(name: string): Elem | undefined {
    return this.inputElems.get(name);
  }

  get inputNames(): readonly string[] {
    return this.inner.inputNames;
  }

  async run(feeds: Record<string, HostArray>): Promise<Record<string, { data: TensorData; dims: number[] }>> {
    const ortFeeds: Record<string, Ort.Tensor> = {};
    for (const name of this.inner.inputNames) {
      const f = feeds[name];
      if (!f) throw new Error(`missing input "${name}"`);
      ortFeeds[name] = toOrt(f, this.inputElems.get(name));
    }
    const out = await this.inner.run(ortFeeds);
    const res: Record<string, { data: TensorData; dims: number[] }> = {};
    for (const [k, t] of Object.entries(out)) res[k] = { data: t.data as TensorData, dims: [...t.dims] };
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
