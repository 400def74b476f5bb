// Reads an ORT profile (enableProfiling's JSON trace): kernel time per op type, averaged over the runs after
// the first (the warm-up).
import { readFileSync, readdirSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";

interface TraceEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string };
}

/** Finds the trace written for `prefix`, removes it, and returns ms per run by op type, largest first. */
export function opTimes(prefix: string): Record<string, number> {
  const dir = dirname(prefix);
  const file = readdirSync(dir).find((f) => f.startsWith(basename(prefix)) && f.endsWith(".json"));
  if (!file) throw new Error(`no ORT profile written for ${prefix}`);
  const events = JSON.parse(readFileSync(join(dir, file), "utf8")) as TraceEvent[];
  rmSync(join(dir, file));
  const runs = events.filter((e) => e.cat === "Session" && e.name === "model_run").sort((a, b) => a.ts - b.ts);
  if (runs.length < 2) throw new Error("the profile needs a warm-up run and at least one more");
  const after = runs[0].ts + runs[0].dur;
  const per: Record<string, number> = {};
  for (const e of events) {
    if (e.cat !== "Node" || !e.name.endsWith("_kernel_time") || e.ts < after) continue;
    const op = e.args?.op_name ?? "?";
    per[op] = (per[op] ?? 0) + e.dur / 1000 / (runs.length - 1);
  }
  return Object.fromEntries(Object.entries(per).sort(([, a], [, b]) => b - a));
}
