// Progress reporting shared by downloads (bytes) and inference stages (steps):
// a rate meter and a renderer that redraws one line on a TTY and prints plain
// periodic lines otherwise (logs, CI), so piped output stays readable.

/** Rate over a sliding window, so a stall shows up quickly instead of being averaged away. */
export class RateMeter {
  private samples: Array<{ at: number; done: number }> = [];

  constructor(private readonly windowMs = 5000) {}

  add(done: number, at = Date.now()): void {
    this.samples.push({ at, done });
    // Keep one sample older than the window so the rate spans the whole window.
    while (this.samples.length > 2 && at - this.samples[1]!.at >= this.windowMs) this.samples.shift();
  }

  /** Units per second; 0 until two samples are apart in time. */
  perSecond(): number {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.at <= first.at) return 0;
    return ((last.done - first.done) * 1000) / (last.at - first.at);
  }
}

export function etaSeconds(remaining: number, perSecond: number): number | undefined {
  return perSecond > 0 ? remaining / perSecond : undefined;
}

const BYTE_UNITS = ["B", "kB", "MB", "GB", "TB"];

/** `unit` "bytes" renders 1.5 MB; any other unit renders "12 steps". */
export function formatQuantity(n: number, unit: string): string {
  if (unit !== "bytes") return `${Number.isInteger(n) ? n : n.toFixed(1)} ${unit}`;
  let i = 0;
  while (n >= 1000 && i < BYTE_UNITS.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? Math.round(n) : n.toFixed(1)} ${BYTE_UNITS[i]}`;
}

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (x: number) => String(x).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

export interface ProgressLine {
  label: string;
  done: number;
  total: number;
  unit: string;
  perSecond: number;
  /** Drawn bar width in characters; 0 leaves the bar out (plain lines). */
  barWidth: number;
}

export function formatProgress(p: ProgressLine): string {
  const fraction = p.total > 0 ? Math.min(1, p.done / p.total) : 0;
  const parts = [p.label, `${Math.floor(fraction * 100)}%`.padStart(4)];
  if (p.barWidth > 0) {
    const filled = Math.round(fraction * p.barWidth);
    parts.push(`[${"#".repeat(filled)}${"-".repeat(p.barWidth - filled)}]`);
  }
  const amount =
    p.unit === "bytes"
      ? `${formatQuantity(p.done, p.unit)} / ${formatQuantity(p.total, p.unit)}`
      : `${p.done}/${p.total} ${p.unit}`;
  parts.push(amount);
  if (p.perSecond > 0) {
    parts.push(`${formatQuantity(p.perSecond, p.unit)}/s`);
    const eta = etaSeconds(p.total - p.done, p.perSecond);
    if (eta !== undefined && p.done < p.total) parts.push(`ETA ${formatDuration(eta)}`);
  }
  return parts.join("  ");
}

/** What the renderer writes to: process.stderr, or anything shaped like it. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressBarOptions {
  label: string;
  total: number;
  /** "bytes" for human byte sizes, otherwise a word such as "steps". */
  unit: string;
  stream?: ProgressStream;
  /** Plain (non-TTY) mode prints at most one line per interval. */
  lineIntervalMs?: number;
}

const TTY_REDRAW_MS = 100;

export class ProgressBar {
  private readonly stream: ProgressStream;
  private readonly rate = new RateMeter();
  private label: string;
  private total: number;
  private done = 0;
  private lastDraw = -Infinity;
  private finished = false;

  constructor(private readonly opts: ProgressBarOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.label = opts.label;
    this.total = opts.total;
  }

  update(done: number, change: { total?: number; label?: string } = {}): void {
    this.done = done;
    this.total = change.total ?? this.total;
    this.label = change.label ?? this.label;
    const now = Date.now();
    this.rate.add(done, now);
    const interval = this.stream.isTTY ? TTY_REDRAW_MS : (this.opts.lineIntervalMs ?? 5000);
    if (now - this.lastDraw < interval) return;
    this.lastDraw = now;
    this.draw();
  }

  /** Draws the final state and ends the line. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.draw();
    if (this.stream.isTTY) this.stream.write("\n");
  }

  private draw(): void {
    const line: ProgressLine = {
      label: this.label,
      done: this.done,
      total: this.total,
      unit: this.opts.unit,
      perSecond: this.rate.perSecond(),
      barWidth: 0,
    };
    if (!this.stream.isTTY) {
      this.stream.write(formatProgress(line) + "\n");
      return;
    }
    const columns = this.stream.columns ?? 80;
    const withoutBar = formatProgress(line).length;
    line.barWidth = Math.max(0, Math.min(30, columns - withoutBar - 3));
    // \r + erase-line redraws in place; cut to the width so the line never wraps.
    this.stream.write(`\r\x1b[2K${formatProgress(line).slice(0, columns - 1)}`);
  }
}
