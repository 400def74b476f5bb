// Turns an engine job's events into progress on stderr: a bar for the prior's and the decoder's steps (redrawn
// on a TTY, plain lines otherwise), a line per model load and for the final image decode, then where the
// time went.
import { basename } from "node:path";
import { ProgressBar, type ProgressStream } from "../hub/progress.js";
import type { ModelDirs } from "../pipelines/components.js";
import type { ProgressEvent } from "../pipelines/progress.js";

type Phase = "prior" | "decoder" | "decode";
type Bucket = Phase | "startup" | "load" | "download";

const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;

export class JobProgress {
  private bar?: ProgressBar;
  private phase: Phase = "prior";
  private last = performance.now();
  private readonly spent = new Map<Bucket, number>();
  private loads = 0;
  private started = false;
  /** A TTY status line is showing that no newline has ended. */
  private transient = false;

  constructor(private readonly dirs: ModelDirs, private readonly stream: ProgressStream = process.stderr) {}

  /** Time spent before the job (e.g. downloading models) shown in the summary. */
  add(bucket: Bucket, ms: number): void {
    this.spent.set(bucket, (this.spent.get(bucket) ?? 0) + ms);
  }

  /** Charges the time since the last event to `bucket`; until the first event that is the worker's startup. */
  private tick(bucket: Bucket): void {
    if (!this.started) bucket = "startup";
    this.started = true;
    const now = performance.now();
    this.add(bucket, now - this.last);
    this.last = now;
  }

  /** The TTY's transient status line (a plain stream only gets finished lines). */
  private status(text: string): void {
    if (!this.stream.isTTY) return;
    this.stream.write(`\r\x1b[2K${text}`);
    this.transient = true;
  }

  private line(text: string): void {
    this.stream.write(this.stream.isTTY ? `\r\x1b[2K${text}\n` : `${text}\n`);
    this.transient = false;
  }

  /** "decoder unet" for <decoder dir>/unet. */
  private name(component: string): string {
    const role = (Object.keys(this.dirs) as (keyof ModelDirs)[]).find((r) => component.startsWith(`${this.dirs[r]}/`));
    return role ? `${role} ${basename(component)}` : basename(component);
  }

  readonly onLoad = (component: string, phase: "start" | "done", ms?: number): void => {
    if (phase === "start") {
      this.tick(this.phase);
      this.status(`loading ${this.name(component)}...`);
      return;
    }
    this.tick("load");
    this.loads++;
    this.line(`loaded ${this.name(component)} in ${seconds(ms ?? 0)}`);
    if (this.phase === "decode") this.status("decoding...");
  };

  /** A warning of the job (e.g. a scheduler fallback), as a line of its own. */
  readonly onWarning = (message: string): void => this.line(`kandinsky: warning: ${message}`);

  readonly onProgress = (e: ProgressEvent): void => {
    if (e.stage !== "prior" && e.stage !== "decoder") return;
    this.phase = e.stage;
    this.tick(this.phase);
    if (e.step === 1 || !this.bar) this.bar = new ProgressBar({ label: `${e.stage} steps`, total: e.total, unit: "steps", stream: this.stream });
    this.bar.update(e.step, { total: e.total });
    if (e.step < e.total) return;
    this.bar.finish();
    this.bar = undefined;
    // The decoder's last step is followed by the MoVQ decode, which reports no steps.
    if (e.stage === "decoder") this.phase = "decode";
  };

  /** Ends the progress display, also after a failure. */
  stop(): void {
    this.bar?.finish();
    if (this.transient) this.stream.write("\r\x1b[2K");
  }

  /** After a finished job: the decode line, then where the time went. */
  summary(images: number, totalMs: number): string {
    this.tick(this.phase);
    this.line(`decoded ${images} image${images === 1 ? "" : "s"} in ${seconds(this.spent.get("decode") ?? 0)}`);
    const parts: string[] = [];
    const buckets = [["download", "download"], ["startup", "startup"], ["load", `${this.loads} model loads`], ["prior", "text + prior"],
                     ["decoder", "decoder"], ["decode", "image decode"]] as const;
    for (const [bucket, label] of buckets) {
      const ms = this.spent.get(bucket);
      if (ms !== undefined) parts.push(`${label} ${seconds(ms)}`);
    }
    return `time: ${parts.join(", ")}; total ${seconds(totalMs)}`;
  }
}
