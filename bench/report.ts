// The bench's output: a table of the measurements, the GEMM peak, an estimate of the default job, and one
// closing line of key=value pairs for scripts.
import type { BenchItem } from "./items.js";
import type { MeasureResult } from "./measure.js";
import type { QualityResult } from "./quality.js";

const GB = 1e9;

export interface JobEstimate {
  title: string;
  seconds: number;
  parts: { what: string; seconds: number }[];
}

/**
 * The seed model's default job (text2img at `width` x `height`, `priorSteps` + `steps` with guidance), composed as
 * the pipelines run it with sessions released after each use: each text encoder is loaded twice (prompt, then
 * '' — counted as one batch-2 run), the image encoder once (zero-image embeds), the prior for its steps, the UNet
 * for its steps, the MoVQ once. The first call of each session costs its measured first run.
 */
export interface JobSettings {
  width: number;
  height: number;
  steps: number;
  priorSteps: number;
}

/** The default job's network calls in pipeline order: [item, session loads, calls]. */
export function jobPlan(d: JobSettings): [string, number, number][] {
  return [
    ["clip_text", 2, 1], ["clip_vision", 1, 1], ["prior", 1, d.priorSteps], ["mclip", 2, 1],
    [`unet${d.width}`, 1, d.steps], [`movq${d.width}`, 1, 1],
  ];
}

export function estimateDefaultJob(results: MeasureResult[], d: JobSettings): JobEstimate | undefined {
  if (d.width !== d.height) return undefined;
  const get = (name: string) => results.find((r) => r.item === name);
  const plan = jobPlan(d);
  const parts: JobEstimate["parts"] = [];
  for (const [name, loads, calls] of plan) {
    const r = get(name);
    if (!r) return undefined;
    const ms = loads * r.loadMs + r.firstRunMs + (calls - 1) * r.runMs;
    parts.push({ what: `${name}: ${loads} load${loads > 1 ? "s" : ""} + ${calls} call${calls > 1 ? "s" : ""}`, seconds: ms / 1000 });
  }
  const title = `${d.width}x${d.height}, ${d.priorSteps} prior + ${d.steps} decoder steps`;
  return { title, seconds: parts.reduce((a, p) => a + p.seconds, 0), parts };
}

/** GFLOP/s of a result. */
export const gflops = (r: MeasureResult) => r.flops / r.runMs / 1e6;

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ")).join("\n");
}

const fixed = (x: number, d: number) => x.toFixed(d);
const expo = (x: number) => x.toExponential(2);

/** The int8 result measured against an fp32 one of the same item, if any. */
const int8Twin = (results: MeasureResult[], r: MeasureResult) =>
  r.precision === "fp32" ? results.find((x) => x.item === r.item && x.precision === "int8") : undefined;

export function formatReport(items: BenchItem[], results: MeasureResult[], gemms: MeasureResult[], job: JobEstimate | undefined, settings: string,
  qualities: QualityResult[] = []): string {
  const peak = gemms.length ? Math.max(...gemms.map(gflops)) : undefined;
  const rows = [["item", "load s", "1st load s", "1st run s", "run ms (n)", "GFLOP", "GFLOP/s", "of peak", "peak RSS GB", "weights GB", "rel. error"]];
  for (const r of results) {
    let label = r.rssAfterRelease ? "the job's networks in one process, in turn" : items.find((i) => i.name === r.item)?.label ?? r.item;
    if (r.precision === "int8" || int8Twin(results, r)) label += ` (${r.precision})`;
    rows.push([
      label, fixed(r.loadMs / 1000, 2), r.firstLoadMs ? fixed(r.firstLoadMs / 1000, 2) : "-", fixed(r.firstRunMs / 1000, 2),
      `${fixed(r.runMs, 1)} (${r.runs})`, fixed(r.flops / GB, 1), fixed(gflops(r), 1), peak ? `${fixed((100 * gflops(r)) / peak, 1)}%` : "-",
      fixed(r.peakRss / GB, 2), fixed(r.weightBytes / GB, 2), r.relErr !== undefined ? r.relErr.toExponential(2) : "-",
    ]);
  }
  const seen = new Set<string>();
  for (const g of gemms) {
    const [n, chain] = g.item.split(":").slice(1);
    const when = seen.has(g.item) ? ", after" : gemms.length > new Set(gemms.map((x) => x.item)).size ? ", before" : "";
    seen.add(g.item);
    rows.push([`GEMM: ${n}^3 MatMul x${chain}${when}`, fixed(g.loadMs / 1000, 2), "-", fixed(g.firstRunMs / 1000, 2), `${fixed(g.runMs, 1)} (${g.runs})`,
      fixed(g.flops / GB, 1), fixed(gflops(g), 1), peak ? `${fixed((100 * gflops(g)) / peak, 1)}%` : "-", fixed(g.peakRss / GB, 2), "-", "-"]);
  }
  const out = [settings, "", table(rows)];
  for (const r of results.filter((x) => x.rssAfterRelease)) {
    const names = r.item.slice(r.item.indexOf(":") + 1).split(",");
    out.push("", `in one process (${names.join(" → ")}): peak RSS ${fixed(r.peakRss / GB, 2)} GB; RSS after each release: ` +
      r.rssAfterRelease!.map((b) => fixed(b / GB, 2)).join(", ") + " GB");
  }
  for (const r of results.filter((x) => x.alternate)) {
    const a = r.alternate!;
    out.push("", `${r.item} fp32 and int8 in turn in one process (fastest of ${a.runs} each): fp32 ${fixed(a.fp32Ms, 1)} ms, ` +
      `int8 ${fixed(a.int8Ms, 1)} ms, int8/fp32 ${fixed(a.int8Ms / a.fp32Ms, 3)}; CPU time ${fixed(a.fp32CpuMs, 0)} and ` +
      `${fixed(a.int8CpuMs, 0)} ms, int8/fp32 ${fixed(a.int8CpuMs / a.fp32CpuMs, 3)}`);
  }
  for (const r of results.filter((x) => x.opMs)) {
    const total = Object.values(r.opMs!).reduce((a, b) => a + b, 0);
    const top = Object.entries(r.opMs!).slice(0, 10).map(([op, ms]) => `${op} ${fixed(ms, 0)} (${fixed((100 * ms) / total, 1)}%)`);
    out.push("", `${r.item} kernel ms per run: ${fixed(total, 0)}: ${top.join(", ")}`);
  }
  if (qualities.length) {
    const q0 = qualities[0];
    out.push("", `int8 against fp32 over one decoder job (${q0.steps} steps, ${q0.size}x${q0.size}, synthetic conditioning):`, table([
      ["set", "UNet step error, mean", "max", "final latents error", "image PSNR dB"],
      ...qualities.map((q) => [q.set, expo(q.stepErr.reduce((a, b) => a + b, 0) / q.stepErr.length), expo(Math.max(...q.stepErr)),
        expo(q.latentsErr), fixed(q.psnr, 2)]),
    ]));
  }
  if (job) {
    out.push("", `default job estimate (${job.title}): ${fixed(job.seconds, 1)} s`);
    for (const p of job.parts) out.push(`  ${p.what}: ${fixed(p.seconds, 1)} s`);
  }

  const kv: Record<string, string> = {};
  for (const r of results) {
    if (r.rssAfterRelease) {
      kv.pipeline_peak_rss_gb = fixed(r.peakRss / GB, 2);
      continue;
    }
    // Measured in both precisions: the plain keys are the int8 figures, the fp32 ones get an _fp32 suffix.
    const twin = int8Twin(results, r);
    const key = twin ? `${r.item}_fp32` : r.item;
    kv[`${key}_ms`] = fixed(r.runMs, 1);
    kv[`${key}_gflops`] = fixed(gflops(r), 1);
    kv[`${key}_load_s`] = fixed(r.loadMs / 1000, 2);
    if (r.firstLoadMs) kv[`${key}_first_load_s`] = fixed(r.firstLoadMs / 1000, 2);
    if (peak) kv[`${key}_peak_ratio`] = fixed(gflops(r) / peak, 3);
    // The ratio of the runs taken in turn in one process when there are some, else of the two processes' medians.
    const alt = twin?.alternate;
    if (twin) kv[`${r.item}_int8_ratio`] = fixed(alt ? alt.int8Ms / alt.fp32Ms : twin.runMs / r.runMs, 3);
    if (alt) {
      Object.assign(kv, { [`${r.item}_alt_fp32_ms`]: fixed(alt.fp32Ms, 1), [`${r.item}_alt_int8_ms`]: fixed(alt.int8Ms, 1) });
      kv[`${r.item}_int8_cpu_ratio`] = fixed(alt.int8CpuMs / alt.fp32CpuMs, 3);
    }
    if (r.relErr !== undefined) kv[`${r.item}_rel_err`] = r.relErr.toExponential(2);
  }
  if (peak) kv.gemm_peak_gflops = fixed(peak, 1);
  const all = [...results, ...gemms];
  if (all.length) kv.peak_rss_gb = fixed(Math.max(...all.map((r) => r.peakRss)) / GB, 2);
  if (results.length) kv.weights_max_gb = fixed(Math.max(...results.map((r) => r.weightBytes)) / GB, 2);
  if (job) kv.default_job_s = fixed(job.seconds, 1);
  for (const q of qualities) {
    const k = `quality_${q.set.replace(/[^A-Za-z0-9]+/g, "_")}`;
    kv[`${k}_step_err_max`] = expo(Math.max(...q.stepErr));
    kv[`${k}_latents_err`] = expo(q.latentsErr);
    kv[`${k}_psnr_db`] = fixed(q.psnr, 2);
  }
  out.push("", Object.entries(kv).map(([k, v]) => `${k}=${v}`).join(" "));
  return out.join("\n");
}
