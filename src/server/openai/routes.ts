// OpenAI's images API (the shapes the official `openai` client sends and reads) on the same predictions, queue,
// limits and token as the Cog API: GET /v1/models, POST /v1/images/generations, /v1/images/edits (inpainting
// where the image or mask is transparent, img2img otherwise) and /v1/images/variations (a mix of the image).
// Errors are OpenAI's {"error": {message, type, param, code}}.
import multipart from "@fastify/multipart";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { decodeAlpha, encodeGrayPng, type ImageFormat } from "../../image/io.js";
import { apiNames, FIELDS } from "../../request/fields.js";
import { grayImage, type GrayImage } from "../../image/rgb.js";
import { checkInput, cogName, dataUrl, fitSize, inApiTerms, nthSeed } from "../api-input.js";
import { signUrlPath, UnauthorizedError, type AuthSettings } from "../auth.js";
import { InputError, validationDetails } from "../errors.js";
import { IMAGE_URL_LIMITS } from "../image-url.js";
import { undecodable } from "../inputs.js";
import { MODEL_ID, NotReadyError, NotSucceededError, type Predictions } from "../predictions.js";
import { QueueFullError } from "../backend.js";
import type { Input } from "../schema.js";
import { outputName } from "../outputs.js";
import type { Prediction } from "../store.js";
import { fromOpenAi, type OpenAiRequest, type ResponseFormat } from "./fields.js";

export interface OpenAiOptions {
  predictions: Predictions;
  auth: AuthSettings;
  maxInputPixels: number;
  /** When the models were set up (the models' `created`), in seconds since the epoch. */
  created: number;
}

interface OpenAiError {
  status: number;
  message: string;
  type?: string;
  param?: string | null;
  code?: string | null;
}

const send = (reply: FastifyReply, e: OpenAiError) =>
  reply.code(e.status).send({ error: { message: e.message, type: e.type ?? "invalid_request_error", param: e.param ?? null, code: e.code ?? null } });

/** How long a client told the queue is full should wait before retrying (the official clients honour it). */
const RETRY_AFTER_S = 5;

function errorHandler(err: FastifyError & { validation?: never[] }, _req: FastifyRequest, reply: FastifyReply) {
  if (err.validation) {
    const d = validationDetails(err.validation, "body")[0];
    return send(reply, { status: 400, message: d.msg, param: typeof d.loc[1] === "string" ? d.loc[1] : null });
  }
  if (err instanceof InputError) {
    const param = typeof err.loc[1] === "string" ? err.loc[1] : null;
    return send(reply, { status: 400, message: param ? `${param} ${err.message}` : err.message, param, code: err.type === "unknown_parameter" ? "unknown_parameter" : null });
  }
  if (err instanceof UnauthorizedError) {
    reply.header("www-authenticate", err.scheme);
    return send(reply, { status: 401, message: "Incorrect API key provided: this server's key is its --token", code: "invalid_api_key" });
  }
  if (err instanceof QueueFullError) {
    reply.header("retry-after", String(RETRY_AFTER_S));
    return send(reply, { status: 429, message: err.message, type: "requests", code: "rate_limit_exceeded" });
  }
  if (err instanceof NotReadyError) return send(reply, { status: 503, message: err.message, type: "server_error" });
  if (err instanceof NotSucceededError) return send(reply, { status: 500, message: err.message, type: "server_error" });
  if (err.statusCode === 413) {
    const what = err.code === "FST_REQ_FILE_TOO_LARGE" ? `an image is larger than ${IMAGE_URL_LIMITS.maxBytes / 2 ** 20} MiB` : `the request is too large (${err.message})`;
    return send(reply, { status: 413, message: what });
  }
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return send(reply, { status: err.statusCode === 415 ? 400 : err.statusCode, message: err.message });
  console.error("kandinsky serve:", err);
  return send(reply, { status: 500, message: `internal error: ${err.message}`, type: "server_error" });
}

interface Upload {
  bytes: Buffer;
  mime: string;
}

/** A multipart form: its values (the last of a repeated name) and its files by field name. */
async function readForm(req: FastifyRequest): Promise<{ values: Record<string, string>; files: Record<string, Upload[]> }> {
  if (!req.isMultipart()) throw new InputError(["body"], "must be multipart/form-data, with the image as a file");
  const values: Record<string, string> = {};
  const files: Record<string, Upload[]> = {};
  for await (const part of req.parts()) {
    if (part.type === "file") (files[part.fieldname] ??= []).push({ bytes: await part.toBuffer(), mime: part.mimetype });
    else values[part.fieldname] = String(part.value);
  }
  return { values, files };
}

/** The one image of a form, under `image` (or `image[]`, as clients send a list). */
function theImage(files: Record<string, Upload[]>, allowed: string[]): Upload {
  for (const name of Object.keys(files)) if (!allowed.includes(name)) throw new InputError(["body", name], "is not a file this endpoint takes");
  const images = [...(files.image ?? []), ...(files["image[]"] ?? [])];
  if (images.length === 0) throw new InputError(["body", "image"], "is required (a PNG, JPEG or WebP file)");
  if (images.length > 1) throw new InputError(["body", "image"], `must be one image, got ${images.length}: this model edits one image at a time`);
  return images[0];
}

/** OpenAI's mask convention -> ours: alpha 0 (transparent) = repaint = white. */
const transparentAsWhite = (alpha: GrayImage) => grayImage(alpha.width, alpha.height, alpha.data.map((a) => (a === 0 ? 255 : 0)));

export async function openaiRoutes(app: FastifyInstance, o: OpenAiOptions): Promise<void> {
  await app.register(multipart, { throwFileSizeLimit: true, limits: { fileSize: IMAGE_URL_LIMITS.maxBytes, files: 4, fields: 64 } });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req, reply) => send(reply, { status: 404, message: `Invalid URL (${req.method} ${req.url.split("?")[0]})` }));

  const model = { id: MODEL_ID, object: "model", created: o.created, owned_by: "kandinsky-ts" };
  app.get("/models", async () => ({ object: "list", data: [model] }));
  app.get("/models/:model", async (req: FastifyRequest<{ Params: { model: string } }>, reply) => {
    if (req.params.model === MODEL_ID) return model;
    return send(reply, { status: 404, message: `The model '${req.params.model}' does not exist (this server has ${MODEL_ID})`, param: "model", code: "model_not_found" });
  });

  /** The Cog input of an OpenAI request, checked, in OpenAI's names when it does not fit. */
  const input = (r: OpenAiRequest, extra: Record<string, unknown>) => checkInput({ ...r.cog, ...extra }, o.predictions.check, "openai");

  /** Runs `inputs` one after another and answers with their images. */
  const respond = async (req: FastifyRequest, reply: FastifyReply, inputs: Input[], format?: ResponseFormat) => {
    let ended: Prediction[];
    try {
      ended = await o.predictions.sequence(inputs, reply);
    } catch (e) {
      throw inApiTerms(e, "openai");
    }
    const field = (key: "width" | "height" | "outputFormat") => inputs[0][cogName(key)];
    const data: { b64_json?: string; url?: string }[] = [];
    for (const p of ended) {
      if (p.status !== "succeeded") throw new NotSucceededError(p);
      for (const [i, out] of (p.output ?? []).entries()) {
        // An uploaded output (--upload-url) is its own URL; otherwise the server's output route, which reads the
        // image from the prediction's record, so the URL works as long as the record is kept (a restart included).
        const url = out.startsWith("data:") ? `${req.protocol}://${req.host}${signUrlPath(o.auth, `/outputs/${outputName(p.id, i, field("outputFormat") as ImageFormat)}`)}` : out;
        data.push({
          ...(format !== "url" ? { b64_json: (await o.predictions.outputBytes(out)).toString("base64") } : {}),
          ...(format !== "b64_json" ? { url } : {}),
        });
      }
    }
    return { created: Math.floor(Date.now() / 1000), data, output_format: field("outputFormat"), size: `${field("width")}x${field("height")}` };
  };

  /** An absent or "auto" size: the image's (the default's for a generation), fitted into the size limits. */
  const sized = (r: OpenAiRequest, image: { width: number; height: number }) => (r.autoSize ? fitSize(image.width, image.height, o.predictions.limits) : {});

  app.post("/images/generations", async (req, reply) => {
    const body = req.body;
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw new InputError(["body"], "must be a JSON object");
    const r = fromOpenAi(body as Record<string, unknown>, false);
    // auto: the default size, within this server's limits.
    const auto = { width: FIELDS.width.default, height: FIELDS.height.default };
    return respond(req, reply, [input(r, { [cogName("task")]: "text2img", ...sized(r, auto) })], r.responseFormat);
  });

  /** The image's size, decoded; its alpha channel when it has one. */
  const readImage = async (upload: Upload, field: string) => {
    try {
      return await decodeAlpha(upload.bytes, { maxPixels: o.maxInputPixels });
    } catch (e) {
      throw undecodable(e, ["body", field]);
    }
  };

  app.post("/images/edits", async (req, reply) => {
    const form = await readForm(req);
    const upload = theImage(form.files, ["image", "image[]", "mask"]);
    if (!form.values.prompt) throw new InputError(["body", "prompt"], "is required");
    const image = await readImage(upload, "image");
    const maskUpload = form.files.mask?.[0];
    let repaint: GrayImage | undefined;
    if (maskUpload) {
      const mask = await readImage(maskUpload, "mask");
      if (!mask.alpha) throw new InputError(["body", "mask"], "must have an alpha channel: its transparent pixels (alpha 0) mark what to repaint");
      if (mask.width !== image.width || mask.height !== image.height) {
        throw new InputError(["body", "mask"], `must be the size of the image, ${image.width}x${image.height}; it is ${mask.width}x${mask.height}`);
      }
      repaint = transparentAsWhite(mask.alpha);
    } else if (image.alpha?.data.includes(0)) {
      repaint = transparentAsWhite(image.alpha);
    }
    const r = fromOpenAi(form.values, true);
    const edit = input(r, {
      [cogName("task")]: repaint ? "inpaint" : "img2img",
      [cogName("image")]: dataUrl(upload.bytes, upload.mime),
      ...(repaint ? { [cogName("mask")]: dataUrl(await encodeGrayPng(repaint), "image/png") } : {}),
      ...sized(r, image),
    });
    return respond(req, reply, [edit], r.responseFormat);
  });

  app.post("/images/variations", async (req, reply) => {
    const form = await readForm(req);
    const upload = theImage(form.files, ["image", "image[]"]);
    const image = await readImage(upload, "image");
    const r = fromOpenAi(form.values, true);
    // A mix makes one image: n variations are n predictions, their seeds one apart when a seed is given.
    const [, images, weights] = apiNames("cog", "mix");
    const checked = input(r, { [cogName("task")]: "mix", [images]: [dataUrl(upload.bytes, upload.mime)], [weights]: [1], ...sized(r, image) });
    const [n, seed] = [checked[cogName("numOutputs")] as number, checked[cogName("seed")] as number | undefined];
    const inputs = Array.from({ length: n }, (_, i) => ({ ...checked, [cogName("numOutputs")]: 1, ...(seed === undefined ? {} : { [cogName("seed")]: nthSeed(seed, i) }) }));
    return respond(req, reply, inputs, r.responseFormat);
  });
}
