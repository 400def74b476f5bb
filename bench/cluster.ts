// `npm run bench -- --only cluster`: the cluster on the tiny models, one front (this process) and `kandinsky
// worker` processes on a real redis-server. Throughput of 1 vs 2 workers as a ratio, each worker with the same
// share of the cores (so that the ratio shows what the queue adds, not what the cores allow), and the
// scheduling overhead of one job (enqueue -> start: the record's started_at - created_at) on an idle worker.
import os from "node:os";
import { startServer } from "../src/server/index.js";
import { startRedis, startWorker, type WorkerProcess } from "../test/cluster-helpers.js";
import { client, small, waitFor } from "../test/server-helpers.js";

export interface ClusterBenchOptions {
  /** Predictions per throughput run. */
  jobs: number;
  /** Decoder steps of each. */
  steps: number;
  /** Sequential predictions whose enqueue -> start time is measured. */
  probes: number;
}

interface Prediction {
  id: string;
  status: string;
  created_at: string;
  started_at: string;
  completed_at: string;
  error: string | null;
  metrics: { predict_time: number };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function clusterBench(o: ClusterBenchOptions): Promise<string> {
  const threads = Math.max(1, Math.floor(os.availableParallelism() / 2));
  const redis = await startRedis();
  const front = await startServer({ host: "127.0.0.1", port: 0, queueSize: o.jobs, cluster: { redisUrl: redis.url } });
  const api = client(front.url);
  const input = { ...small, num_inference_steps: o.steps };
  /** `n` predictions at once, each a synchronous request (answered when it ends: no polling load on the machine). */
  const run = async (n: number): Promise<Prediction[]> => Promise.all(Array.from({ length: n }, async () => {
    const p = (await api("POST", "/predictions", { input })).body as Prediction;
    if (p.status !== "succeeded") throw new Error(`a bench prediction did not succeed: ${JSON.stringify(p).slice(0, 300)}`);
    return p;
  }));
  /** `count` workers, ready, each warmed up (models loaded) by one prediction: all idle, each takes one. */
  const startWorkers = async (count: number): Promise<WorkerProcess[]> => {
    const workers = Array.from({ length: count }, () => startWorker(redis.url, ["--threads", String(threads)]));
    await waitFor(`${count} workers`, async () => {
      const h = (await api("GET", "/health-check")).body;
      return h.workers?.list.filter((w: { status: string }) => w.status === "ready").length === count || undefined;
    }, 120_000);
    await run(count);
    return workers;
  };
  /** Predictions per second with `count` workers, and the median time one of them runs. */
  const throughput = async (count: number): Promise<{ perS: number; runS: number }> => {
    const workers = await startWorkers(count);
    try {
      const t0 = Date.now();
      const done = await run(o.jobs);
      const perS = done.length / ((Math.max(...done.map((p) => Date.parse(p.completed_at))) - t0) / 1000);
      return { perS, runS: median(done.map((p) => p.metrics.predict_time)) };
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
  };
  try {
    const one = await throughput(1);
    const two = await throughput(2);
    const overhead: number[] = [];
    const [probe] = await startWorkers(1);
    try {
      for (let i = 0; i < o.probes; i++) {
        const [p] = await run(1);
        overhead.push(Date.parse(p.started_at) - Date.parse(p.created_at));
      }
    } finally {
      await probe.stop();
    }
    const settings = `cluster bench: tiny models, 128x128, ${o.steps} decoder steps, ${o.jobs} predictions a run, ` +
      `${threads} thread(s) per worker, cores=${os.availableParallelism()} loadavg=${os.loadavg()[0].toFixed(2)}`;
    const ratio = two.perS / one.perS;
    return [
      settings,
      `throughput: 1 worker ${one.perS.toFixed(2)}/s, 2 workers ${two.perS.toFixed(2)}/s, ratio ${ratio.toFixed(2)} ` +
        `(median run ${one.runS.toFixed(3)} s with 1 worker, ${two.runS.toFixed(3)} s with 2: what the workers' runs slow each other by is the machine's cores, not the queue)`,
      `enqueue -> start on an idle worker: median ${median(overhead)} ms, max ${Math.max(...overhead)} ms (${o.probes} predictions)`,
      `cluster_1_worker_per_s=${one.perS.toFixed(3)} cluster_2_workers_per_s=${two.perS.toFixed(3)} cluster_scaling_ratio=${ratio.toFixed(3)} ` +
        `cluster_enqueue_start_ms=${median(overhead)}`,
    ].join("\n");
  } finally {
    await front.close();
    await redis.stop();
  }
}
