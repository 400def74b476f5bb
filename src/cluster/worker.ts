// `kandinsky worker`: takes the cluster's BullMQ jobs and runs them on its inference processes (one per
// --concurrency slot), exactly as the single-process server runs its queue (execute.ts). It reports progress,
// logs and outputs through Redis, heartbeats, and sends each prediction's webhooks: the worker that runs a
// prediction is the one process that sends them.
//
// Failures: a worker that dies stops renewing its job's lock; another worker's stalled check puts the job back
// in the queue and the next start (`attempt`) takes the record over, so the dead one, were it only stuck,
// can no longer write it. A prediction is started at most maxAttempts times after its workers died. Stopping a
// worker (SIGTERM) hands its predictions back to the queue at their next step without counting an attempt.
import { hostname } from "node:os";
import { WaitingError, Worker, type Job as BullJob } from "bullmq";
import type { Redis } from "ioredis";
import type { WorkerInit } from "../engine/protocol.js";
import type { WorkerReport } from "../server/backend.js";
import { EngineSlot, runPrediction, settledWithin } from "../server/execute.js";
import { SHUTDOWN_FLUSH_MS } from "../server/runner.js";
import { isTerminal } from "../server/store.js";
import { UrlPolicy } from "../server/url-policy.js";
import { WebhookSender } from "../server/webhooks.js";
import { workerConnection } from "./connection.js";
import { Keys } from "./keys.js";
import { Records, type ClusterJob } from "./records.js";
import { Registry } from "./registry.js";
import { RemoteJob } from "./remote-job.js";

export interface ClusterWorkerOptions {
  redisUrl: string;
  queueName: string;
  /** Predictions run at once, each on its own inference process. */
  concurrency: number;
  /** Seconds without a heartbeat after which this worker is presumed dead and its predictions run elsewhere. */
  stallTimeoutS: number;
  /** How long a prediction past its time limit may take to reach its next step before its inference process is killed. */
  stopGraceMs: number;
  /** The device asked for, reported until the models are resolved. */
  device: string;
  /** Resolves (or downloads) the models. */
  models: () => Promise<WorkerInit>;
}

const senderFor = (job: ClusterJob) => job.webhook && new WebhookSender(job.webhook.url, new Set(job.webhook.events), new UrlPolicy(job.urlPolicy), undefined, job.webhook.trace);

export class ClusterWorker {
  readonly id = `${hostname()}:${process.pid}`;
  private readonly redis: Redis;
  private readonly keys: Keys;
  private readonly records: Records;
  private readonly registry: Registry;
  private readonly cancels: Redis;
  private readonly state: WorkerReport;
  private readonly free: EngineSlot[] = [];
  private readonly slots: EngineSlot[] = [];
  private readonly active = new Map<string, RemoteJob>();
  /** Jobs whose completed webhook is still being delivered. */
  private readonly sending = new Set<RemoteJob>();
  private bull?: Worker;
  private heartbeat?: NodeJS.Timeout;
  private closing = false;

  constructor(private readonly o: ClusterWorkerOptions) {
    if (!(Number.isInteger(o.concurrency) && o.concurrency >= 1)) throw new Error(`concurrency must be an integer >= 1, got ${o.concurrency}`);
    if (!(o.stallTimeoutS > 0)) throw new Error(`the stall timeout must be > 0 seconds, got ${o.stallTimeoutS}`);
    this.redis = workerConnection(o.redisUrl);
    this.keys = new Keys(o.queueName);
    this.records = new Records(this.redis, this.keys);
    this.registry = new Registry(this.redis, this.keys);
    this.state = {
      id: this.id, device: o.device, concurrency: o.concurrency, busy: 0, status: "starting", inpaint: false,
      started_at: new Date().toISOString(), setup_logs: "", warning: null,
    };
    this.cancels = this.redis.duplicate();
    this.cancels.on("error", () => {}); // the main connection reports outages
    this.cancels.on("message", (_channel: string, id: string) => this.active.get(id)?.abort.abort());
  }

  /** Heartbeats at once; takes jobs once the models are resolved, or reports SETUP_FAILED with the error. */
  async start(): Promise<void> {
    const ttlMs = this.o.stallTimeoutS * 1000;
    const beat = () => {
      this.state.busy = this.active.size;
      this.registry.beat(this.state, ttlMs).catch(() => {}); // Redis away: the connection says so, once
    };
    beat();
    this.heartbeat = setInterval(beat, ttlMs / 3);
    const subscribed = this.cancels.subscribe(this.keys.cancel);
    let init: WorkerInit;
    try {
      init = await this.o.models();
      await subscribed;
    } catch (e) {
      this.state.status = "failed";
      this.state.setup_logs = `loading the models failed: ${(e as Error).message}\n`;
      beat();
      return;
    }
    if (this.closing) return;
    const onWarning = (message: string) => (this.state.warning = message);
    for (let i = 0; i < this.o.concurrency; i++) this.slots.push(new EngineSlot(init, "kandinsky worker", { onWarning }));
    this.free.push(...this.slots);
    Object.assign(this.state, { status: "ready", device: init.options.provider, inpaint: Boolean(init.dirs.inpaint) });
    beat();
    this.bull = new Worker(this.o.queueName, (job, token) => this.process(job, token!), {
      connection: this.redis,
      concurrency: this.o.concurrency,
      name: this.id,
      lockDuration: ttlMs,
      stalledInterval: ttlMs / 2,
      // Attempts are counted here (maxAttempts is the front's, per prediction), so BullMQ never fails a stalled job.
      maxStalledCount: Number.MAX_SAFE_INTEGER,
    });
    this.bull.on("error", () => {}); // reported once per outage by the connection
  }

  private async process(bullJob: BullJob<{ id: string }>, token: string): Promise<void> {
    const { id } = bullJob.data;
    const attempt = String(bullJob.attemptsStarted);
    const claimed = await this.records.claim(id, attempt, this.id);
    if (!claimed) return; // the record expired while the job waited
    const { prediction, job: settings, previous } = claimed;
    if (isTerminal(prediction.status)) {
      // Its last worker died between recording the end and acknowledging the job: the webhook may be due.
      const sender = senderFor(settings);
      if (sender && !(await this.records.hooked(id))) {
        sender.send("completed", () => JSON.stringify(prediction));
        await sender.flushed();
        await this.records.markHooked(id, settings.resultTtlS);
      }
      return;
    }
    const job = new RemoteJob(prediction, attempt, this.records, senderFor(settings), settings.resultTtlS);
    this.active.set(id, job);
    try {
      await this.runClaimed(job, settings, bullJob.stalledCounter, previous);
    } finally {
      this.active.delete(id);
      this.sending.add(job);
      void job.flushed().finally(() => this.sending.delete(job));
    }
    if (job.lost && this.closing && !isTerminal(job.prediction.status)) {
      // Handed back: queued again for another worker, recorded as such.
      const p = job.prediction;
      p.status = "starting";
      p.logs += `worker ${this.id} stopped; the prediction is queued again\n`;
      await this.records.update(p, attempt);
      await bullJob.moveToWait(token);
      throw new WaitingError();
    }
  }

  private async runClaimed(job: RemoteJob, settings: ClusterJob, failures: number, previous: string): Promise<void> {
    const p = job.prediction;
    if (failures > 0) job.log(`worker ${previous} stopped responding while it ran this prediction (attempt ${failures} of ${settings.maxAttempts})`);
    if (failures >= settings.maxAttempts) {
      return job.finish("failed", `the workers running this prediction stopped responding ${failures} times (at most ${settings.maxAttempts} attempts)`);
    }
    job.log(`worker ${this.id} (attempt ${failures + 1} of ${settings.maxAttempts})`);
    if (await this.redis.exists(this.keys.canceled(p.id))) return job.finish("canceled");
    if (failures === 0) job.hook("start");
    const request = await this.records.request(p.id);
    if (!request) return job.finish("failed", "the prediction's request is missing from Redis");
    const slot = this.free.pop()!;
    try {
      await runPrediction(job, slot, request, settings.output, {
        timeoutMs: settings.timeoutMs, stopGraceMs: this.o.stopGraceMs, outputs: this.records.outputs(settings.resultTtlS),
        urlPolicy: new UrlPolicy(settings.urlPolicy), uploadTo: settings.uploadTo, closing: () => this.closing,
      });
    } finally {
      this.free.push(slot);
    }
  }

  /**
   * Stops taking jobs, hands the running ones back to the queue at their next step (another worker takes them
   * over, without counting an attempt), waits at most SHUTDOWN_FLUSH_MS for the last webhooks, and leaves.
   */
  async close(): Promise<void> {
    this.closing = true;
    for (const job of this.active.values()) job.handBack();
    await this.bull?.close();
    clearInterval(this.heartbeat);
    await Promise.all(this.slots.map((s) => s.close()));
    await settledWithin(Promise.all([...this.sending].map((j) => j.flushed())), SHUTDOWN_FLUSH_MS);
    await this.registry.leave(this.id).catch(() => {});
    this.cancels.disconnect();
    this.redis.disconnect();
  }
}
