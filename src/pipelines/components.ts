// The networks of a model set, loaded on demand. By default each component is loaded, used and released in
// turn (peak memory ≈ the largest component); `keepLoaded` keeps sessions open for repeated runs.
import type { Provider } from "../runtime/session.js";
import { Session, resolveProvider } from "../runtime/session.js";
import { buildNetwork, type NetworkSpec } from "../models/network.js";
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

export class Components {
  private open = new Map<string, { session: Session; config: unknown }>();
  private target?: Promise<{ provider: Provider; build: BuildOptions }>;

  constructor(readonly opts: EngineOptions) {}

  /** The provider sessions use (checked once, a fallback told to onWarning), and the build options that go with it. */
  resolveTarget(): Promise<{ provider: Provider; build: BuildOptions }> {
    this.target ??= resolveProvider(this.opts.provider).then(({ provider, warning }) => {
      if (warning) this.opts.onWarning?.(warning);
      const build = provider === this.opts.provider && this.opts.build ? this.opts.build : buildOptionsFor(provider);
      return { provider, build };
    });
    return this.target;
  }

  /**
   * Runs `fn` with a session of `spec` built from the component folder `dir`; the session is released
   * afterwards unless sessions are kept loaded.
   */
  async use<C, V, T>(dir: string, spec: NetworkSpec<C, V>, variant: V, fn: (s: Session, cfg: C) => Promise<T>): Promise<T> {
    const key = `${dir}|${spec.classes[0]}|${JSON.stringify(variant ?? null)}`;
    let entry = this.open.get(key);
    if (!entry) {
      const { provider, build } = await this.resolveTarget();
      const t0 = performance.now();
      this.opts.onLoad?.(dir, "start");
      const net = buildNetwork(spec, { dir, variant: this.opts.variant }, variant, build);
      const session = await Session.create(net.graph, { provider, threads: this.opts.threads });
      entry = { session, config: net.config };
      this.opts.onLoad?.(dir, "done", performance.now() - t0);
      if (this.opts.keepLoaded) this.open.set(key, entry);
    }
    try {
      return await fn(entry.session, entry.config as C);
    } finally {
      if (!this.opts.keepLoaded) await entry.session.release();
    }
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
