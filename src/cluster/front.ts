// The cluster's backend for `kandinsky serve --redis`: an HTTP front that loads no models. It checks and decodes
// input like the single-process server, writes the prediction to Redis and queues a BullMQ job for the workers
// (worker.ts). It keeps nothing of its own: any front answers for any prediction, and restarting fronts loses
// nothing.
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { QueueFullError, UnavailableError, type Backend, type Health, type SetupState, type Submission, type Watch, type WorkerReport } from "../server/backend.js";
import type { StreamEvent } from "../server/job.js";
import { SHUTDOWN_FLUSH_MS } from "../server/runner.js";
import { settledWithin } from "../server/execute.js";
import { isTerminal, type Prediction } from "../server/store.js";
import { UrlPolicy } from "../server/url-policy.js";
import { WebhookSender } from "../server/webhooks.js";
import { frontConnection, guard } from "./connection.js";
import { jobId, Keys } from "./keys.js";
import { QUEUED, Records, type ClusterJob } from "./records.js";
import { Registry } from "./registry.js";
import { RemoteJob } from "./remote-job.js";
import { Subscriptions } from "./subscriptions.js";

export interface ClusterFrontOptions {
  redisUrl: string;
  queueName: string;
  /** Predictions that may wait while every worker is busy; more get a 409. */
  queueSize: number;
  maxAttempts: number;
  resultTtlS: number;
  timeoutMs: number;
  urlPolicy: UrlPolicy;
}

/** How often a waiting request re-reads its prediction, in case an event was lost while Redis was away. */
const RECHECK_MS = 1000;
/** How long the workers' state read for one request serves the next ones. */
const WORKERS_CACHE_MS = 250;

const JOB_OPTIONS = { removeOnComplete: true, removeOnFail: true };

export class ClusterBackend implements Backend {
  private readonly redis: Redis;
  private readonly queue: Queue;
  private readonly keys: Keys;
  private readonly records: Records;
  private readonly registry: Registry;
  private readonly subscriptions: Subscriptions;
  private readonly startedAt = new Date().toISOString();
  private readySince: string | null = null;
  private workersRead?: { at: number; list: Promise<WorkerReport[]> };
  /** Webhooks this front sends: the completed one of a prediction it cancels before any worker took it. */
  private readonly sending = new Set<RemoteJob>();
  private closing = false;

  /** A front, once connected to Redis or after `waitMs` (it then answers 503 until Redis is reachable). */
  static async open(o: ClusterFrontOptions, waitMs = 2000): Promise<ClusterBackend> {
    const backend = new ClusterBackend(o);
    await settledWithin(backend.queue.waitUntilReady(), waitMs);
    return backend;
  }

  private constructor(private readonly o: ClusterFrontOptions) {
    this.redis = frontConnection(o.redisUrl);
    this.keys = new Keys(o.queueName);
    this.records = new Records(this.redis, this.keys);
    this.registry = new Registry(this.redis, this.keys);
    this.subscriptions = new Subscriptions(this.redis.duplicate());
    this.queue = new Queue(o.queueName, { connection: this.redis });
    this.queue.on("error", () => {}); // reported once per outage by the connection
  }

  private guard<T>(fn: () => Promise<T>): Promise<T> {
    return guard(this.redis, this.o.redisUrl, fn);
  }

  private workers(): Promise<WorkerReport[]> {
    const now = Date.now();
    if (!this.workersRead || now - this.workersRead.at > WORKERS_CACHE_MS) {
      this.workersRead = { at: now, list: this.registry.live() };
      this.workersRead.list.catch(() => (this.workersRead = undefined));
    }
    return this.workersRead.list;
  }

  /** The workers, the queue, and whether a new prediction would be refused: every ready worker busy and queueSize waiting. */
  private async load() {
    const [workers, counts] = await Promise.all([this.workers(), this.queue.getJobCounts("wait", "active")]);
    const ready = workers.filter((w) => w.status === "ready");
    const capacity = ready.reduce((n, w) => n + w.concurrency, 0);
    const waiting = counts.wait ?? 0;
    return { workers, ready, waiting, full: waiting >= this.o.queueSize && (counts.active ?? 0) >= capacity };
  }

  async health(): Promise<Health> {
    const setup: SetupState = { status: "starting", started_at: this.startedAt, completed_at: null, logs: "" };
    let state;
    try {
      state = await this.guard(() => this.load());
    } catch (e) {
      if (!(e instanceof UnavailableError)) throw e;
      return { status: "UNHEALTHY", setup, detail: e.message };
    }
    const { workers, ready, waiting, full } = state;
    const failed = workers.filter((w) => w.status === "failed");
    if (ready.length) this.readySince ??= new Date().toISOString();
    setup.status = ready.length ? "succeeded" : workers.length && failed.length === workers.length ? "failed" : "starting";
    setup.completed_at = ready.length ? this.readySince : null;
    setup.logs = failed.map((w) => `${w.id}: ${w.setup_logs}`).join("");
    const status = ready.length ? (full ? "BUSY" : "READY") : setup.status === "failed" ? "SETUP_FAILED" : "STARTING";
    return { status, setup, workers: { count: workers.length, busy: workers.reduce((n, w) => n + w.busy, 0), waiting, list: workers } };
  }

  async notReady(): Promise<string | undefined> {
    const h = await this.health();
    if (h.status === "UNHEALTHY") throw new UnavailableError(h.detail);
    if (h.status === "STARTING") return "no worker has its models ready yet; retry when /health-check says READY";
    if (h.status === "SETUP_FAILED") return `every worker failed to load the models: ${h.setup.logs.trim()}`;
    return undefined;
  }

  async canInpaint(): Promise<boolean> {
    return (await this.guard(() => this.workers())).some((w) => w.status === "ready" && w.inpaint);
  }

  async get(id: string): Promise<Prediction | undefined> {
    return (await this.guard(() => this.records.get(id)))?.prediction;
  }

  async submit(s: Submission): Promise<Prediction> {
    return this.guard(async () => {
      if (this.closing) throw new QueueFullError("the server is shutting down");
      if ((await this.load()).full) throw new QueueFullError("the prediction queue is full; retry later");
      const job: ClusterJob = {
        output: s.output, webhook: s.webhook, uploadTo: s.uploadTo, urlPolicy: this.o.urlPolicy.opts, timeoutMs: this.o.timeoutMs,
        maxAttempts: this.o.maxAttempts, resultTtlS: this.o.resultTtlS,
      };
      const { id } = s.prediction;
      if (!(await this.records.create(s.prediction, job, s.request))) {
        // The same id, created by another request (on any front) first.
        const existing = (await this.records.get(id))!;
        await this.requeue(existing.prediction, existing.attempt);
        return existing.prediction;
      }
      await this.queue.add("predict", { id }, { ...JOB_OPTIONS, jobId: jobId(id) });
      return s.prediction;
    });
  }

  /**
   * Queues again a prediction that no worker has taken and that has no job: the front that created it lost Redis
   * (or stopped) between writing the record and queuing it. BullMQ adds a job id only once, so this is safe.
   */
  private async requeue(p: Prediction, attempt: string): Promise<void> {
    if (p.status !== "starting" || attempt !== QUEUED) return;
    if ((await this.queue.getJobState(jobId(p.id))) === "unknown") await this.queue.add("predict", { id: p.id }, { ...JOB_OPTIONS, jobId: jobId(p.id) });
  }

  async cancel(id: string): Promise<Prediction | undefined> {
    return this.guard(async () => {
      const found = await this.records.get(id);
      if (!found || isTerminal(found.prediction.status)) return found?.prediction;
      // Not taken yet: out of the queue, and ended here (this front sends its completed webhook).
      if (found.attempt === QUEUED && (await this.queue.remove(jobId(id))) === 1) {
        const { webhook, urlPolicy, resultTtlS } = found.job;
        const sender = webhook && new WebhookSender(webhook.url, new Set(webhook.events), new UrlPolicy(urlPolicy), undefined, webhook.trace);
        const job = new RemoteJob(found.prediction, QUEUED, this.records, sender, resultTtlS);
        await job.finish("canceled");
        if (!job.lost) {
          this.sending.add(job);
          void job.flushed().finally(() => this.sending.delete(job));
          return job.snapshot();
        }
      }
      // Running, or being taken: the worker that holds it hears the channel, one taking it sees the flag.
      await this.redis.set(this.keys.canceled(id), "1", "EX", found.job.resultTtlS);
      await this.redis.publish(this.keys.cancel, id);
      return (await this.records.get(id))?.prediction;
    });
  }

  async watch(id: string, fn: (e: StreamEvent) => void): Promise<Watch | undefined> {
    return this.guard(async () => {
      let ended = false;
      let timer: NodeJS.Timeout | undefined;
      const stop = () => {
        ended = true;
        clearInterval(timer);
        unlisten();
      };
      const deliver = (e: StreamEvent) => {
        if (ended) return;
        if (e.event === "completed") stop();
        fn(e);
      };
      const unlisten = await this.subscriptions.listen(this.keys.events(id), (m) => deliver(JSON.parse(m) as StreamEvent));
      const found = await this.records.get(id).catch((e: Error) => (unlisten(), Promise.reject(e)));
      if (!found || isTerminal(found.prediction.status)) {
        stop();
        return found && { snapshot: found.prediction, stop };
      }
      await this.requeue(found.prediction, found.attempt);
      timer = setInterval(() => {
        this.records.status(id).then(async (status) => {
          if (ended || (status && !isTerminal(status))) return;
          const last = await this.records.get(id);
          if (last) deliver({ event: "completed", data: last.prediction });
          else stop();
        }, () => {}); // Redis away: try again at the next tick
      }, RECHECK_MS);
      return { snapshot: found.prediction, stop };
    });
  }

  async done(id: string): Promise<Prediction | undefined> {
    let resolve!: (p: Prediction) => void;
    const completed = new Promise<Prediction>((r) => (resolve = r));
    const watch = await this.watch(id, (e) => e.event === "completed" && resolve(e.data));
    if (!watch) return undefined;
    return isTerminal(watch.snapshot.status) ? watch.snapshot : completed;
  }

  async close(): Promise<void> {
    this.closing = true;
    await settledWithin(Promise.all([...this.sending].map((j) => j.flushed())), SHUTDOWN_FLUSH_MS);
    await this.queue.close().catch(() => {});
    await this.subscriptions.close();
    this.redis.disconnect();
  }
}
