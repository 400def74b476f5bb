// The networks of a model set, loaded on demand. By default each component is loaded, used and released in
// turn (peak memory ≈ the largest component); `keepLoaded` keeps sessions open for repeated runs. On CPU,
// sessions are saved in ORT's final form in our cache folder and later loaded from there (runtime/session-cache.ts).
// Networks with an int8 form run it at precision "int8", once calibrated (`calibrate`).
import type { Provider, RunObserver } from "../runtime/session.js";
import { Session, resolveProvider } from "../runtime/session.js";
import { cacheRoot } from "../runtime/session-cache.js";
import { rangesFile, rangesFromRuns, readRanges, writeRanges, type Ranges } from "../runtime/int8.js";
import type { Precision } from "../runtime/precision.js";
import { buildNetwork, openCalibrationSession, openSession, type Network, type NetworkSpec } from "../models/network.js";
import type { BuildOptions } from "../weights/weight-view.js";

export interface EngineOptions {
  /** Requested provider; one that cannot start falls back to CPU (see onWarning). */
  provider: Provider;
  /** How graphs are built for that provider (compute dtype, attention form); default buildOptionsFor(provider). */
  build?: BuildOptions;
  threads?: number;
  keepLoaded?: boolean;
  /** Weight file variant, e.g. "fp16". */
  variant?: string;
  /** Our cache folder (saved sessions, calibrations); false: none. Default: runtime/session-cache.ts's cacheRoot(). */
  cache?: string | false;
  /** Told when a component starts and finishes loading. */
  onLoad?: (component: string, phase: "start" | "done", ms?: number) => void;
  /** Told when the requested provider is unavailable and CPU is used instead. */
  onWarning?: (message: string) => void;
}

/** Build options suited to a provider: fused attention on CPU; plain attention and fp16 compute on GPUs. */
export function buildOptionsFor(provider: Provider): BuildOptions {
  return provider === "cpu"
    ? { compute: "float32", attention: "fused" }
    : { compute: "float16", attention: "plain", padConvChannels: true };
}

/** Calibration runs being recorded, by network. */
interface Recording {
  file: string;
  keys: string[];
  runs: ArrayLike<number>[];
}

export class NotCalibratedError extends Error {}

export class Components {
  private open = new Map<string, { session: Session; config: unknown }>();
  private target?: Promise<{ provider: Provider; build: BuildOptions }>;
  /** While calibrating: the networks with an int8 form run in float and report their ranges. */
  private recording?: { networks: Map<string, Recording> };
  /** Calibrations kept in memory when there is no cache folder. */
  private memoryRanges = new Map<string, Ranges>();
  private warnedInt8 = false;
  private observers: ((component: string, precision: Precision) => RunObserver | undefined)[] = [];

  /** `recipe` names what calibrations are run on (see `calibrate`); int8 sessions use that recipe's ranges. */
  constructor(readonly opts: EngineOptions, readonly recipe = "none") {}

  private get root(): string | undefined {
    return this.opts.cache === false ? undefined : this.opts.cache ?? cacheRoot();
  }

  /** The provider sessions use (checked once, a fallback told to onWarning), and the build options that go with it. */
  resolveTarget(): Promise<{ provider: Provider; build: BuildOptions }> {
    this.target ??= resolveProvider(this.opts.provider).then(({ provider, warning }) => {
      if (warning) this.opts.onWarning?.(warning);
      const build = provider === this.opts.provider && this.opts.build ? this.opts.build : buildOptionsFor(provider);
      return { provider, build };
    });
    return this.target;
  }

  /** Whether `spec` runs in int8 for a call at `precision` (int8 is a CPU form). */
  private async int8(spec: NetworkSpec<any, any>, precision: Precision): Promise<boolean> {
    if (precision !== "int8" || !spec.int8) return false;
    const { provider } = await this.resolveTarget();
    if (provider === "cpu") return true;
    if (!this.warnedInt8) this.opts.onWarning?.(`precision int8 runs on the cpu provider only; using ${provider}'s float path`);
    this.warnedInt8 = true;
    return false;
  }

  /**
   * Runs `fn` with a session of `spec` built from the component folder `dir`; the session is released
   * afterwards unless sessions are kept loaded.
   */
  async use<C, V, T>(dir: string, spec: NetworkSpec<C, V>, variant: V, fn: (s: Session, cfg: C) => Promise<T>,
    precision: Precision = "fp32"): Promise<T> {
    const int8 = await this.int8(spec, precision);
    const mode = this.recording && spec.int8 ? "calibrate" : int8 ? "int8" : "float";
    const key = `${dir}|${spec.classes[0]}|${JSON.stringify(variant ?? null)}|${mode}`;
    let entry = this.open.get(key);
    if (!entry) {
      const t0 = performance.now();
      this.opts.onLoad?.(dir, "start");
      const net = await this.build(dir, spec, variant);
      const session = await this.session(net, mode);
      if (mode !== "calibrate") {
        for (const o of this.observers) {
          const fn = o(dir, int8 ? "int8" : "fp32");
          if (fn) session.observe(fn);
        }
      }
      entry = { session, config: net.config };
      this.opts.onLoad?.(dir, "done", performance.now() - t0);
      if (this.opts.keepLoaded && mode !== "calibrate") this.open.set(key, entry);
    }
    try {
      return await fn(entry.session, entry.config as C);
    } finally {
      if (!this.opts.keepLoaded || mode === "calibrate") await entry.session.release();
    }
  }

  private async build<C, V>(dir: string, spec: NetworkSpec<C, V>, variant: V): Promise<Network<C>> {
    const { build } = await this.resolveTarget();
    return buildNetwork(spec, { dir, variant: this.opts.variant }, variant, build);
  }

  private async session<C>(net: Network<C>, mode: "calibrate" | "int8" | "float"): Promise<Session> {
    const { provider } = await this.resolveTarget();
    const base = { provider, threads: this.opts.threads };
    if (mode === "calibrate") {
      const file = rangesFile(net.graph, this.recipe, this.root ?? "");
      const networks = this.recording!.networks;
      return openCalibrationSession(net, base, (keys, ranges) => {
        const r = networks.get(file) ?? { file, keys, runs: [] };
        networks.set(file, r);
        r.runs.push(ranges);
      });
    }
    return openSession(net, { ...base, cacheRoot: this.root, int8: mode === "int8" ? this.calibration(net) : undefined });
  }

  /** The calibrated ranges of a network, if it was calibrated under this recipe. */
  private ranges(net: Network<unknown>): Ranges | undefined {
    const file = rangesFile(net.graph, this.recipe, this.root ?? "");
    return this.root ? readRanges(file) : this.memoryRanges.get(file);
  }

  private calibration(net: Network<unknown>): Ranges {
    const r = this.ranges(net);
    if (!r) throw new NotCalibratedError(`${net.graph.name}: not calibrated for int8 (calibration "${this.recipe}")`);
    return r;
  }

  /** Whether a network has the calibration its int8 form needs. */
  async calibrated<C, V>(dir: string, spec: NetworkSpec<C, V>, variant: V): Promise<boolean> {
    return this.ranges(await this.build(dir, spec, variant)) !== undefined;
  }

  /**
   * Runs `job` with every network that has an int8 form computing in float and reporting the ranges of its
   * layers, then stores each network's calibration under this recipe.
   */
  async calibrate(job: () => Promise<void>): Promise<void> {
    if (this.recording) throw new Error("already calibrating");
    const rec = (this.recording = { networks: new Map<string, Recording>() });
    try {
      await job();
    } finally {
      this.recording = undefined;
    }
    for (const r of rec.networks.values()) {
      const ranges = rangesFromRuns(r.keys, r.runs);
      if (this.root) writeRanges(r.file, ranges);
      else this.memoryRanges.set(r.file, ranges);
    }
  }

  /** Watches the calls of sessions opened from now on: `select` returns an observer for a component, or none. */
  observe(select: (component: string, precision: Precision) => RunObserver | undefined): void {
    this.observers.push(select);
  }

  async releaseAll(): Promise<void> {
    const sessions = [...this.open.values()];
    this.open.clear();
    await Promise.all(sessions.map((s) => s.session.release()));
  }
}

/** A pipeline's model folders (diffusers layout). */
export interface ModelDirs {
  prior: string;
  /** The text-to-image decoder (all tasks but inpaint). */
  decoder?: string;
  /** The inpainting decoder (only for inpaint). */
  inpaint?: string;
}
