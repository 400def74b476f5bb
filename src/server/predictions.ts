// Creating and awaiting predictions, the same way for every API the server speaks (Cog, OpenAI, AUTOMATIC1111)
// and on any backend: each API turns its request into a Cog input, so every prediction is checked, admitted,
// stored, queued, limited and served alike, whichever client made it.
import { randomUUID } from "node:crypto";
import type { FastifyReply } from "fastify";
import type { FieldDefaults, FieldLimits } from "../request/fields.js";
import type { Backend, WebhookSpec } from "./backend.js";
import { readImageUrl } from "./image-url.js";
import { toGenerateRequest } from "./inputs.js";
import { inputSchema, type Input } from "./schema.js";
import type { Prediction } from "./store.js";
import type { UrlPolicy } from "./url-policy.js";
import { inputCheck, type InputCheck } from "./validate.js";

/** The name clients see for the models served (OpenAI's model id, AUTOMATIC1111's checkpoint title). */
export const MODEL_ID = "kandinsky-2.1";

/** The models are still loading, or failed to load (the backend says why). */
export class NotReadyError extends Error {}

/** A prediction a synchronous API waited for did not succeed; the message says why. */
export class NotSucceededError extends Error {
  constructor(readonly prediction: Prediction) {
    super(prediction.status === "canceled" ? "the prediction was cancelled" : `the prediction failed: ${prediction.error ?? "no reason given"}`);
  }
}

export interface NewPrediction {
  id?: string;
  input: Input;
  /** Lines the prediction's logs start with (unknown fields that were removed, for example). */
  warnings?: string[];
  webhook?: WebhookSpec;
  uploadTo?: string;
}

export interface PredictionsOptions {
  backend: Backend;
  maxInputPixels: number;
  urlPolicy: UrlPolicy;
  /** The server's limits on request fields (admit.ts). */
  limits: FieldLimits;
  /** The server's defaults for the fields that allow one (serve --precision). */
  defaults?: FieldDefaults;
}

export class Predictions {
  readonly backend: Backend;
  /** Checks a Cog input as the Cog routes' schema does (for the other APIs, which build one). */
  readonly check: InputCheck;

  constructor(private readonly o: PredictionsOptions) {
    this.backend = o.backend;
    this.check = inputCheck(inputSchema(o.limits, o.defaults));
  }

  /** The server's limits on request fields. */
  get limits(): FieldLimits {
    return this.o.limits;
  }

  /**
   * Queues a prediction, or, given the id of an existing one, returns that one (Cog's idempotent creation);
   * `created` says which. Throws NotReadyError, InputError (the input cannot be used) or QueueFullError.
   */
  async create(n: NewPrediction): Promise<{ prediction: Prediction; created: boolean }> {
    const { backend } = this;
    const why = await backend.notReady();
    if (why) throw new NotReadyError(why);
    const existing = n.id === undefined ? undefined : await backend.get(n.id);
    if (existing) return { prediction: existing, created: false };
    const { request, output } = await toGenerateRequest(n.input, {
      canInpaint: await backend.canInpaint(), limits: this.o.limits, defaults: this.o.defaults, maxInputPixels: this.o.maxInputPixels, urlPolicy: this.o.urlPolicy,
    });
    const prediction: Prediction = {
      id: n.id ?? randomUUID().replaceAll("-", ""),
      input: n.input,
      output: null,
      logs: (n.warnings ?? []).map((w) => `warning: ${w}\n`).join(""),
      error: null,
      status: "starting",
      created_at: new Date().toISOString(),
      started_at: null,
      completed_at: null,
      metrics: {},
    };
    const submitted = await backend.submit({ prediction, request, output, webhook: n.webhook, uploadTo: n.uploadTo });
    // A request for the same id that got there first returned that prediction instead.
    return { prediction: submitted, created: submitted.created_at === prediction.created_at };
  }

  /** The end of a prediction; if the client goes away first, the prediction is cancelled. */
  async untilDone(id: string, reply: FastifyReply): Promise<Prediction> {
    const res = reply.raw;
    const left = () => {
      if (!res.writableFinished) this.backend.cancel(id).catch(() => {});
    };
    res.once("close", left);
    try {
      const p = await this.backend.done(id);
      if (!p) throw new Error(`prediction ${id} is gone`);
      return p;
    } finally {
      res.off("close", left);
    }
  }

  /**
   * Several predictions for one request (OpenAI's n variations, AUTOMATIC1111's n_iter), one after another: each
   * is queued when the one before has ended, so one request holds one place in the queue. Stops early when the
   * client leaves or `more()` says no; `started` hears of each prediction as it is queued.
   */
  async sequence(inputs: Input[], reply: FastifyReply, hooks: { started?(p: Prediction, index: number): void; more?(): boolean } = {}): Promise<Prediction[]> {
    let gone = false;
    const left = () => (gone = !reply.raw.writableFinished);
    reply.raw.once("close", left);
    try {
      const ended: Prediction[] = [];
      for (const [i, input] of inputs.entries()) {
        if (gone || (i > 0 && hooks.more?.() === false)) break;
        const { prediction } = await this.create({ input });
        hooks.started?.(prediction, i);
        ended.push(await this.untilDone(prediction.id, reply));
      }
      return ended;
    } finally {
      reply.raw.off("close", left);
    }
  }

  /** The bytes of an output: a data URL's, or an uploaded file's (downloaded as image inputs are). */
  async outputBytes(output: string): Promise<Buffer> {
    return Buffer.from(await readImageUrl(output, this.o.urlPolicy));
  }
}
