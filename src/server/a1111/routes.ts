// AUTOMATIC1111's /sdapi/v1 API, as Open WebUI and SillyTavern call it, on the same predictions, queue, limits
// and credentials as the Cog API (plus HTTP Basic per --api-auth, as A1111 has it): txt2img, img2img (inpainting
// with a mask, white = repaint), progress with the latent preview, interrupt and skip, options and the lists
// clients read (models, samplers, schedulers, upscalers, VAEs). Invalid input is FastAPI's 422 {"detail": [...]};
// other errors are A1111's {"error", "detail", "body", "errors"}.
import { Ajv } from "ajv";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { encodeImage } from "../../image/io.js";
import { rgbImage } from "../../image/rgb.js";
import { FIELDS } from "../../request/fields.js";
import { checkInput, cogName, inApiTerms, nthSeed } from "../api-input.js";
import { UnauthorizedError } from "../auth.js";
import { InputError, validationDetails } from "../errors.js";
import { MODEL_ID, NotReadyError, NotSucceededError, type Predictions } from "../predictions.js";
import { QueueFullError, type Watch } from "../backend.js";
import type { StreamEvent } from "../job.js";
import type { Prediction } from "../store.js";
import { AJV_OPTIONS } from "../validate.js";
import { fromA1111, info, parameters, SAMPLERS } from "./fields.js";

export interface A1111Options {
  predictions: Predictions;
}

/** A1111's shape for errors that are not invalid input (its handle_exception). */
const send = (reply: FastifyReply, status: number, message: string, error = "HTTPException") =>
  reply.code(status).send({ error, detail: message, body: "", errors: `${status}: ${message}` });

function errorHandler(err: FastifyError & { validation?: never[] }, _req: FastifyRequest, reply: FastifyReply) {
  if (err.validation) return reply.code(422).send({ detail: validationDetails(err.validation, "body") });
  if (err instanceof InputError) return reply.code(422).send({ detail: [err.detail] });
  if (err instanceof UnauthorizedError) return send(reply.header("www-authenticate", err.scheme), 401, err.message);
  // A1111 makes requests wait for the one it runs; past the queue's room this server asks them to come back.
  if (err instanceof QueueFullError || err instanceof NotReadyError) return send(reply, 503, err.message);
  if (err instanceof NotSucceededError) return send(reply, 500, err.message, "RuntimeError");
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return send(reply, err.statusCode, err.message);
  console.error("kandinsky serve:", err);
  return send(reply, 500, `internal error: ${err.message}`, err.name);
}

// The fields this server reads, typed as A1111's pydantic models type them (every one optional, nulls allowed,
// numbers in strings taken as numbers); the others are ignored, as A1111 ignores unknown ones.
const nullable = (type: string, more: object = {}) => ({ type: [type, "null"], ...more });
const TXT2IMG = {
  type: "object",
  properties: {
    prompt: nullable("string"), negative_prompt: nullable("string"), seed: nullable("integer"), steps: nullable("integer"),
    cfg_scale: nullable("number"), width: nullable("integer"), height: nullable("integer"), batch_size: nullable("integer"),
    n_iter: nullable("integer"), sampler_name: nullable("string"), sampler_index: nullable("string"), scheduler: nullable("string"),
    override_settings: nullable("object"), denoising_strength: nullable("number"), send_images: nullable("boolean"),
    num_steps_prior: nullable("integer"), prior_guidance_scale: nullable("number"),
  },
};
const IMG2IMG = {
  ...TXT2IMG,
  properties: {
    ...TXT2IMG.properties, init_images: nullable("array", { items: { type: "string" } }), mask: nullable("string"),
    inpainting_mask_invert: nullable("integer"), include_init_images: nullable("boolean"),
  },
};
const lax = new Ajv({ ...AJV_OPTIONS, coerceTypes: true });

/** A1111's options this server reports; POST /options keeps the ones it knows (for the server's lifetime). */
const OPTION_DEFAULTS: Record<string, unknown> = {
  sd_model_checkpoint: MODEL_ID, sd_checkpoint_hash: null, sd_vae: "Automatic", CLIP_stop_at_last_layers: 1,
  samples_format: "png", live_previews_enable: true, show_progress_every_n_steps: 1,
};

/** The latest step and preview of a prediction, as its event stream reports them. */
interface Running {
  id: string;
  processing: boolean;
  step?: { stage: string; step: number; total: number };
  preview?: { width: number; height: number; rgb: string };
}

/** The predictions of one txt2img / img2img request (n_iter), for /progress, /interrupt and /skip. */
interface Batch {
  count: number;
  index: number;
  startedAt: number;
  interrupted: boolean;
  skipped: boolean;
  current?: Running;
}

/** Follows a prediction's events into `r`. */
function follow(r: Running, e: StreamEvent): void {
  if (e.event === "start") r.processing = true;
  else if (e.event === "progress") {
    r.step = { stage: e.data.stage, step: e.data.step, total: e.data.total };
    if (e.data.preview) r.preview = e.data.preview;
  } else if (e.event === "completed") r.processing = false;
}

export async function a1111Routes(app: FastifyInstance, o: A1111Options): Promise<void> {
  // Every route here is open to --api-auth's users as well as to the token.
  app.addHook("onRoute", (route) => void (route.config = { ...route.config, basicAuth: true }));
  app.setValidatorCompiler(({ schema }) => lax.compile(schema));
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ detail: "Not Found" }));
  const { predictions } = o;
  const { backend } = predictions;
  /** The requests being served, each with the prediction it waits for. */
  const batches = new Set<Batch>();
  /** The batch whose prediction runs now (of this server's requests). */
  const running = () => [...batches].find((b) => b.current?.processing);
  const options = { ...OPTION_DEFAULTS };

  const generate = async (req: FastifyRequest, reply: FastifyReply, img2img: boolean) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const r = fromA1111(body, img2img);
    const first = checkInput(r.cog, predictions.check, "a1111");
    // One seed drawn for the request (the table's draw); batch k of n_iter runs on the k-th after it.
    const seedName = cogName("seed");
    const base = (first[seedName] ?? FIELDS.seed.default()) as number;
    const inputs = Array.from({ length: r.iterations }, (_, k) => ({ ...first, [seedName]: nthSeed(base, k) }));
    const batch: Batch = { count: r.iterations, index: 0, startedAt: Date.now(), interrupted: false, skipped: false };
    const watches: Promise<Watch | undefined>[] = [];
    batches.add(batch);
    let ended: Prediction[];
    try {
      ended = await predictions.sequence(inputs, reply, {
        started: (p, i) => {
          const current: Running = { id: p.id, processing: p.status === "processing" };
          Object.assign(batch, { index: i, skipped: false, current });
          watches.push(backend.watch(p.id, (e) => follow(current, e)));
        },
        more: () => !batch.interrupted,
      });
    } catch (e) {
      throw inApiTerms(e, "a1111");
    } finally {
      batches.delete(batch);
      for (const w of watches) void w.then((watch) => watch?.stop(), () => {});
    }
    // Interrupted or skipped batches give no images (the others stand); a failed one fails the request.
    const failed = ended.find((p) => p.status === "failed");
    if (failed) throw new NotSucceededError(failed);
    const done = ended.filter((p) => p.status === "succeeded");
    const images: string[] = [];
    const seeds: number[] = [];
    for (const p of done) {
      for (const out of p.output ?? []) {
        images.push((await predictions.outputBytes(out)).toString("base64"));
        seeds.push(p.metrics.seed!);
      }
    }
    const stamp = (done[0]?.started_at ?? new Date().toISOString()).replace(/\D/g, "").slice(0, 14);
    return { images: body.send_images === false ? [] : images, parameters: parameters(body, first, r.iterations), info: info(first, seeds, stamp) };
  };

  app.post("/txt2img", { schema: { body: TXT2IMG } }, (req, reply) => generate(req, reply, false));
  app.post("/img2img", { schema: { body: IMG2IMG } }, (req, reply) => generate(req, reply, true));

  app.get("/progress", async (req: FastifyRequest<{ Querystring: { skip_current_image?: string } }>) => {
    const batch = running();
    const job = batch?.current;
    const state = {
      skipped: batch?.skipped ?? false, interrupted: batch?.interrupted ?? false, stopping_generation: false,
      job: job?.id ?? "", job_count: batch?.count ?? 0, job_timestamp: "0", job_no: batch?.index ?? 0, sampling_step: 0, sampling_steps: 0,
    };
    if (!batch || !job) return { progress: 0, eta_relative: 0, state, current_image: null, textinfo: null };
    // The decoder's steps are the sampling (the prior's are a small part of the time).
    const decoder = job.step?.stage === "decoder" ? job.step : undefined;
    Object.assign(state, { sampling_step: decoder?.step ?? 0, sampling_steps: decoder?.total ?? 0 });
    // A1111's estimate: 1% for having started, then the share of the batches and steps done.
    const progress = Math.min(1, 0.01 + (state.job_no + (decoder ? decoder.step / decoder.total : 0)) / state.job_count);
    const elapsed = (Date.now() - batch.startedAt) / 1000;
    const p = job.preview;
    const current = p && req.query.skip_current_image !== "true"
      ? (await encodeImage(rgbImage(p.width, p.height, Buffer.from(p.rgb, "base64")), "png")).toString("base64") : null;
    return {
      progress, eta_relative: Math.max(0, elapsed / progress - elapsed), state, current_image: current,
      textinfo: job.step ? `${job.step.stage} ${job.step.step}/${job.step.total}` : null,
    };
  });

  // Interrupt stops the running prediction at its next step and the rest of its request's batches; skip only it.
  const stopRunning = async (whole: boolean) => {
    const batch = running();
    if (!batch?.current) return;
    batch[whole ? "interrupted" : "skipped"] = true;
    await backend.cancel(batch.current.id);
  };
  app.post("/interrupt", async () => (await stopRunning(true), {}));
  app.post("/skip", async () => (await stopRunning(false), {}));

  app.get("/options", async () => options);
  app.post("/options", { schema: { body: { type: "object" } } }, async (req) => {
    const body = req.body as Record<string, unknown>;
    const checkpoint = body.sd_model_checkpoint;
    if (checkpoint !== undefined && checkpoint !== null && checkpoint !== MODEL_ID) {
      throw new InputError(["body", "sd_model_checkpoint"], `is not a model of this server (${MODEL_ID})`);
    }
    for (const [k, v] of Object.entries(body)) if (Object.hasOwn(OPTION_DEFAULTS, k) && v !== null) options[k] = v;
    return null;
  });

  app.get("/sd-models", async () => [{ title: MODEL_ID, model_name: MODEL_ID, hash: null, sha256: null, filename: MODEL_ID, config: null }]);
  app.get("/samplers", async () => SAMPLERS.map(({ name, aliases, options: opts }) => ({ name, aliases, options: opts })));
  // A1111's noise schedules: ours come with each scheduler's configuration.
  app.get("/schedulers", async () => [{ name: "automatic", label: "Automatic", aliases: null, default_rho: -1, need_inner_model: false }]);
  app.get("/upscalers", async () => [{ name: "None", model_name: null, model_path: null, model_url: null, scale: 4 }]);
  app.get("/latent-upscale-modes", async () => []);
  app.get("/sd-vae", async () => []);
}
