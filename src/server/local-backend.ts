// The single-process backend: the models load in the background (STARTING, then READY or SETUP_FAILED), one
// inference process runs the queue (runner.ts), records and outputs live under the data folder.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { WorkerInit } from "../engine/protocol.js";
import type { Backend, Health, SetupState, Submission, Watch } from "./backend.js";
import type { CreateEngine } from "./execute.js";
import type { StreamEvent } from "./job.js";
import { FileOutputs } from "./outputs.js";
import { Runner } from "./runner.js";
import { PredictionStore, removeStaleTemps, type Prediction } from "./store.js";
import type { UrlPolicy } from "./url-policy.js";
import { WebhookSender } from "./webhooks.js";

export interface LocalBackendOptions {
  dataDir: string;
  queueSize: number;
  timeoutMs: number;
  stopGraceMs: number;
  urlPolicy: UrlPolicy;
  /** Resolves (or downloads) the models; called once, in the background. */
  models: () => Promise<WorkerInit>;
  createEngine?: CreateEngine;
}

export class LocalBackend implements Backend {
  private readonly setup: SetupState = { status: "starting", started_at: new Date().toISOString(), completed_at: null, logs: "" };
  private closed = false;

  private constructor(private readonly store: PredictionStore, private readonly runner: Runner, private readonly urlPolicy: UrlPolicy) {}

  /** Opens the data folder (failing predictions a dead process left running) and starts loading the models. */
  static async open(o: LocalBackendOptions): Promise<LocalBackend> {
    const store = new PredictionStore(o.dataDir);
    await store.open();
    const outputDir = join(o.dataDir, "outputs");
    await mkdir(outputDir, { recursive: true });
    await removeStaleTemps(outputDir);
    const { queueSize, timeoutMs, stopGraceMs, urlPolicy, createEngine } = o;
    const runner = new Runner(store, { queueSize, timeoutMs, stopGraceMs, outputs: new FileOutputs(outputDir), urlPolicy, createEngine });
    const backend = new LocalBackend(store, runner, o.urlPolicy);
    o.models().then(
      (init) => {
        if (backend.closed) return;
        runner.setModels(init);
        backend.setupDone("succeeded", "models ready");
      },
      (e: Error) => backend.setupDone("failed", `loading the models failed: ${e.message}`),
    );
    return backend;
  }

  private setupDone(status: SetupState["status"], log: string): void {
    this.setup.status = status;
    this.setup.completed_at = new Date().toISOString();
    this.setup.logs += `${log}\n`;
  }

  async health(): Promise<Health> {
    const { status } = this.setup;
    return { status: status === "starting" ? "STARTING" : status === "failed" ? "SETUP_FAILED" : this.runner.full ? "BUSY" : "READY", setup: this.setup };
  }

  async notReady(): Promise<string | undefined> {
    if (this.setup.status === "succeeded") return undefined;
    return this.setup.status === "failed" ? `the models failed to load: ${this.setup.logs.trim()}` : "the models are still loading; retry when /health-check says READY";
  }

  async canInpaint(): Promise<boolean> {
    return this.runner.hasInpaint;
  }

  async get(id: string): Promise<Prediction | undefined> {
    return this.runner.job(id)?.snapshot() ?? (await this.store.get(id));
  }

  async submit(s: Submission): Promise<Prediction> {
    // A request for the same id that got here first, while this one's images were read.
    const raced = this.runner.job(s.prediction.id);
    if (raced) return raced.snapshot();
    const webhook = s.webhook && new WebhookSender(s.webhook.url, new Set(s.webhook.events), this.urlPolicy, undefined, s.webhook.trace);
    return (await this.runner.submit({ prediction: s.prediction, request: s.request, output: s.output, webhook, uploadTo: s.uploadTo })).snapshot();
  }

  async cancel(id: string): Promise<Prediction | undefined> {
    await this.runner.cancel(id);
    return this.get(id);
  }

  async watch(id: string, fn: (e: StreamEvent) => void): Promise<Watch | undefined> {
    const job = this.runner.job(id);
    if (!job) {
      const p = await this.store.get(id);
      return p && { snapshot: p, stop: () => {} };
    }
    return { snapshot: job.snapshot(), stop: job.subscribe(fn) };
  }

  async done(id: string): Promise<Prediction | undefined> {
    const job = this.runner.job(id);
    return job ? structuredClone(await job.done) : this.store.get(id);
  }

  drain(): Promise<void> {
    return this.runner.drain();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.runner.close();
    await this.store.close();
  }
}
