// `kandinsky worker`: a cluster's worker (src/cluster/worker.ts). It loads the models with the same options as
// `serve` and takes predictions that `kandinsky serve --redis` fronts queue on the same Redis.
import type { Command } from "commander";
import { ROLES } from "../pipelines/roles.js";
import { redisWhere } from "../cluster/redis-url.js";
import { CLUSTER_DEFAULTS, LIMIT_DEFAULTS } from "../server/limits.js";
import { say } from "./errors.js";
import { addModelOptions, servingModels, type ModelOptions } from "./models.js";
import { positiveInteger, redisUrl, seconds, untilSignal } from "./options.js";

interface WorkerCliOptions extends ModelOptions {
  redis: string;
  queueName: string;
  concurrency: number;
  stallTimeout: number;
  stopGrace?: number;
}

export function addWorkerCommand(program: Command): void {
  const cmd = program
    .command("worker")
    .description("run the predictions of `kandinsky serve --redis` fronts")
    .requiredOption("--redis <url>", "the cluster's Redis (redis://[:password@]host:port[/db])", redisUrl)
    .option("--queue-name <name>", "the queue (and key prefix) fronts and workers share", CLUSTER_DEFAULTS.queueName)
    .option("--concurrency <n>", "predictions run at once, each in its own inference process with its own copy of the models", positiveInteger, 1)
    .option("--stall-timeout <s>", "seconds without a heartbeat after which this worker is presumed dead and its predictions run elsewhere", seconds, CLUSTER_DEFAULTS.stallTimeoutS)
    .option("--stop-grace <s>", `seconds a prediction past its time limit may take to reach its next step before its inference process is killed (default: ${LIMIT_DEFAULTS.stopGraceS})`, seconds);
  addModelOptions(cmd, ROLES);
  cmd.addHelpText("after", `
The time limit, attempts, result TTL and upload URL are the fronts' settings (kandinsky serve --help).

Examples:
  $ kandinsky worker --redis redis://queue.internal:6379 --device cuda --keep-loaded
  $ kandinsky worker --redis redis://:secret@10.0.0.5:6379/2 --queue-name kandinsky-staging --threads 8
`);
  cmd.action(async (o: WorkerCliOptions) => {
    // Loaded here: the other commands need neither BullMQ nor a Redis client.
    const { ClusterWorker } = await import("../cluster/worker.js");
    const worker = new ClusterWorker({
      redisUrl: o.redis, queueName: o.queueName, concurrency: o.concurrency, stallTimeoutS: o.stallTimeout,
      stopGraceMs: (o.stopGrace ?? LIMIT_DEFAULTS.stopGraceS) * 1000, device: o.device, models: servingModels(o),
    });
    say(`worker ${worker.id} on ${redisWhere(o.redis)} (queue ${o.queueName}), ${o.concurrency} at a time`);
    const stopping = untilSignal();
    await worker.start();
    const signal = await stopping;
    say(`${signal}: stopping; running predictions go back to the queue (a second one ends at once)`);
    await worker.close();
  });
}
