// The HTTP server on fastify: Cog's prediction API as coglet (Cog 0.22) serves it, polling and event streams,
// and the web page, over any backend (backend.ts). Every API the server speaks creates its predictions the same
// way (predictions.ts) under the same credentials (auth.ts).
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { InputError, validationDetails } from "./errors.js";
import { authHook, UnauthorizedError } from "./auth.js";
import { normalizeInput } from "./inputs.js";
import { openApiDocument } from "./openapi.js";
import type { Asset } from "./page.js";
import { QueueFullError, UnavailableError, type Backend } from "./backend.js";
import { a1111Routes } from "./a1111/routes.js";
import { openaiRoutes } from "./openai/routes.js";
import { parseOutputName } from "./outputs.js";
import { NotReadyError, Predictions } from "./predictions.js";
import { ID_MAX_LENGTH, ID_PARAMS_SCHEMA, inputSchema, predictionRequestSchema, type PredictionRequest } from "./schema.js";
import type { FieldDefaults, FieldLimits } from "../request/fields.js";
import { isStorageFull, isTerminal } from "./store.js";
import { Streams, wantsEventStream } from "./streams.js";
import { UrlRefusedError, type UrlPolicy } from "./url-policy.js";
import { AJV_OPTIONS } from "./validate.js";

/** Room for a few images as data URLs (each at most IMAGE_URL_LIMITS.maxBytes). */
const BODY_LIMIT = 64 * 2 ** 20;

export interface AppContext {
  backend: Backend;
  page: Map<string, Asset>;
  version: string;
  token?: string;
  /** "user:password" pairs of HTTP Basic for the AUTOMATIC1111 routes (--api-auth). */
  apiAuth?: string[];
  uploadUrl?: string;
  /** Time a client has to send a whole request (headers and body). */
  requestTimeoutMs: number;
  maxInputPixels: number;
  /** Which hosts request-supplied URLs (images, webhooks, output_file_prefix) may reach. */
  urlPolicy: UrlPolicy;
  /** The server's limits on request fields: in the published schema, and applied to every API (admit.ts). */
  limits: FieldLimits;
  /** The server's defaults for the fields that allow one (serve --precision): published and applied the same way. */
  defaults?: FieldDefaults;
  /** POST /shutdown: starts a graceful shutdown. */
  shutdown?: () => void;
}

type IdRequest = FastifyRequest<{ Params: { id: string } }>;

const notFound = (reply: FastifyReply) => {
  reply.callNotFound();
  return reply;
};

/** How often Node checks request deadlines (its default, 30 s, would let a 10 s limit run to 40 s). */
const DEADLINE_CHECK_MS = 1000;

/**
 * A reply to a connection that never became a request (too slow, malformed): written on the socket, since
 * there is no request to reply to, in the same {"detail": ...} shape as every other error.
 */
function clientError(requestTimeoutMs: number) {
  return (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === "ECONNRESET" || socket.destroyed) return;
    const [status, detail] = err.code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? [408, `the request (headers and body) did not arrive within ${requestTimeoutMs / 1000} s`]
      : err.code === "HPE_HEADER_OVERFLOW" ? [431, "the request headers are too large"] : [400, `malformed HTTP request (${err.code ?? err.message})`];
    const body = JSON.stringify({ detail });
    if (socket.writable && socket.bytesWritten === 0) {
      socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    }
    socket.destroy();
  };
}

/** Input fields removed from a request's body before validation, by request. */
const removedFields = new WeakMap<FastifyRequest, string[]>();

export function buildApp(ctx: AppContext): FastifyInstance {
  const { backend } = ctx;
  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT,
    forceCloseConnections: true,
    // A whole request (headers, then body) has requestTimeoutMs to arrive; a client trickling bytes gets a 408.
    // The connection itself has no idle limit: a synchronous prediction keeps it silent for as long as it runs.
    requestTimeout: ctx.requestTimeoutMs,
    http: {
      requestTimeout: ctx.requestTimeoutMs,
      headersTimeout: ctx.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(DEADLINE_CHECK_MS, ctx.requestTimeoutMs / 2),
    },
    clientErrorHandler: clientError(ctx.requestTimeoutMs),
    // Any id the schema accepts can be read back in a path.
    routerOptions: { maxParamLength: ID_MAX_LENGTH },
    // The router's own refusals (an undecodable path, an over-long parameter) in the same shape as ours.
    frameworkErrors: (err, _req, res) => {
      const long = err.code === "FST_ERR_MAX_PARAM_LENGTH";
      const detail = long ? `a path segment is longer than ${ID_MAX_LENGTH} characters, the longest a prediction id may be` : err.message;
      return (res as FastifyReply).code(long ? 414 : err.statusCode ?? 400).send({ detail });
    },
    ajv: { customOptions: AJV_OPTIONS },
  });
  const predictions = new Predictions({ backend, maxInputPixels: ctx.maxInputPixels, urlPolicy: ctx.urlPolicy, limits: ctx.limits, defaults: ctx.defaults });
  const streams = new Streams(backend);

  app.setErrorHandler((err: Error & { validation?: never[]; validationContext?: string; statusCode?: number }, _req, reply) => {
    if (err.validation) {
      const where = err.validationContext === "params" ? "path" : err.validationContext ?? "body";
      return reply.code(422).send({ detail: validationDetails(err.validation, where) });
    }
    if (err instanceof InputError) return reply.code(422).send({ detail: [err.detail] });
    if (err instanceof UnauthorizedError) return reply.code(401).header("www-authenticate", err.scheme).send({ detail: err.message });
    if (err instanceof UnavailableError) return reply.code(503).send({ detail: err.message });
    // coglet's shape for a prediction that cannot be taken.
    if (err instanceof NotReadyError) return reply.code(503).send({ error: err.message, status: "failed" });
    if (err instanceof QueueFullError) return reply.code(409).send({ error: err.message, status: "failed" });
    if (isStorageFull(err)) {
      console.error("kandinsky serve:", err.message);
      return reply.code(507).send({ detail: `the server's storage is full, so the prediction cannot be stored (${(err as NodeJS.ErrnoException).code}); retry later` });
    }
    const code = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (code === 500) console.error("kandinsky serve:", err);
    return reply.code(code).send({ detail: code === 500 ? `internal error: ${err.message}` : err.message });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ detail: `Not Found: ${req.method} ${req.url.split("?")[0]}` }));

  const auth = { token: ctx.token, apiAuth: ctx.apiAuth };
  app.addHook("onRequest", authHook(auth));
  // The other APIs, each with its own error shapes; the hook above decides their auth too.
  app.register(openaiRoutes, { prefix: "/v1", predictions, auth, maxInputPixels: ctx.maxInputPixels, created: Math.floor(Date.now() / 1000) });
  app.register(a1111Routes, { prefix: "/sdapi/v1", predictions });
  // Open: the page and its files, discovery, the schema and the health check (load balancers probe it). Cog
  // itself has no authentication (Replicate's platform puts it in front); this token is ours.
  const open = { config: { public: true } };

  const asset = (reply: FastifyReply, name: string) => {
    const a = ctx.page.get(name)!;
    return reply.type(a.type).header("cache-control", "no-cache").send(a.body);
  };

  app.get("/", open, (req, reply) => {
    if ((req.headers.accept ?? "").includes("text/html")) return asset(reply, "index.html");
    return {
      kandinsky_version: ctx.version,
      docs_url: "/",
      openapi_url: "/openapi.json",
      shutdown_url: "/shutdown",
      healthcheck_url: "/health-check",
      predictions_url: "/predictions",
      predictions_idempotent_url: "/predictions/{prediction_id}",
      predictions_cancel_url: "/predictions/{prediction_id}/cancel",
      prediction_url: "/predictions/{prediction_id}",
      prediction_events_url: "/predictions/{prediction_id}/events",
    };
  });
  app.get("/static/:name", open, (req: FastifyRequest<{ Params: { name: string } }>, reply) => {
    const { name } = req.params;
    if (name === "index.html" || !ctx.page.has(name)) return notFound(reply);
    return asset(reply, name);
  });

  const input = inputSchema(ctx.limits, ctx.defaults);
  const openapi = openApiDocument(ctx.version, input);
  app.get("/openapi.json", open, () => openapi);

  // UNHEALTHY (the cluster's Redis is unreachable) is a 503, for load balancers; every other state is a 200.
  app.get("/health-check", open, async (_req, reply) => {
    const health = await backend.health();
    return reply.code(health.status === "UNHEALTHY" ? 503 : 200).send({ ...health, version: { kandinsky: ctx.version } });
  });

  const create = async (req: FastifyRequest, reply: FastifyReply, pathId?: string) => {
    const body = req.body as PredictionRequest;
    if (pathId !== undefined && body.id !== undefined && body.id !== pathId) {
      throw new InputError(["body", "id"], "must match the prediction id in the URL");
    }
    for (const field of ["webhook", "output_file_prefix"] as const) {
      const url = body[field];
      if (url === undefined) continue;
      if (!URL.canParse(url)) throw new InputError(["body", field], "is not a valid URL");
      await ctx.urlPolicy.check(new URL(url)).catch((e: Error) => {
        throw e instanceof UrlRefusedError ? new InputError(["body", field], `is not reached: ${e.message}`) : e;
      });
    }
    const removed = removedFields.get(req) ?? [];
    const header = (name: string) => (typeof req.headers[name] === "string" ? (req.headers[name] as string) : undefined);
    const { prediction, created } = await predictions.create({
      id: pathId ?? body.id,
      input: body.input,
      warnings: removed.length ? [`removed unknown input field${removed.length > 1 ? "s" : ""} ${removed.join(", ")}`] : [],
      webhook: body.webhook
        ? { url: body.webhook, events: body.webhook_events_filter, trace: { traceparent: header("traceparent"), tracestate: header("tracestate") } }
        : undefined,
      uploadTo: body.output_file_prefix ?? ctx.uploadUrl,
    });
    if (wantsEventStream(req)) return void (await streams.coglet(reply, prediction.id, created));
    const respondAsync = /\brespond-async\b/.test(String(req.headers.prefer ?? ""));
    if (respondAsync) return reply.code(202).send(prediction);
    if (isTerminal(prediction.status)) return reply.code(200).send(prediction);
    // A synchronous request that created the prediction owns it: if its client goes, the prediction is cancelled.
    return reply.code(200).send(created ? await predictions.untilDone(prediction.id, reply) : await backend.done(prediction.id));
  };

  const createRoute = {
    schema: { body: predictionRequestSchema(input) },
    // Unknown input fields are removed (and named in the prediction's logs) before the schema sees them.
    preValidation: async (req: FastifyRequest) => {
      const removed = normalizeInput((req.body as { input?: unknown } | undefined)?.input);
      if (removed.length) removedFields.set(req, removed);
    },
  };
  const idSchema = { params: ID_PARAMS_SCHEMA };
  app.post("/predictions", createRoute, (req, reply) => create(req, reply));
  app.put("/predictions/:id", { ...createRoute, schema: { ...createRoute.schema, ...idSchema } }, (req: IdRequest, reply) => create(req, reply, req.params.id));

  app.get("/predictions/:id", { schema: idSchema }, async (req: IdRequest, reply) => {
    const found = await backend.get(req.params.id);
    return found ?? notFound(reply);
  });

  // coglet's answer: {} while the prediction is queued or running (it stops at its next step), 404 otherwise.
  app.post("/predictions/:id/cancel", { schema: idSchema }, async (req: IdRequest, reply) => {
    const found = await backend.get(req.params.id);
    if (!found || isTerminal(found.status)) return reply.code(404).send({ detail: `prediction ${req.params.id} is not queued or running` });
    await backend.cancel(req.params.id);
    return {};
  });

  app.get("/predictions/:id/events", { schema: idSchema }, async (req: IdRequest, reply) => {
    if (!(await streams.ours(reply, req.params.id))) return notFound(reply);
  });

  // An output image by file name (outputs.ts), read from its prediction's record: with the token, or a URL the
  // OpenAI API signed. An uploaded one is where it was uploaded.
  app.get("/outputs/:name", { config: { signedUrl: true } }, async (req: FastifyRequest<{ Params: { name: string } }>, reply) => {
    const named = parseOutputName(req.params.name);
    const out = named && (await backend.get(named.id))?.output?.[named.index];
    if (!out) return notFound(reply);
    if (!out.startsWith("data:")) return reply.redirect(out);
    const mime = out.slice("data:".length, out.indexOf(";"));
    return reply.type(mime).header("cache-control", "private, max-age=31536000, immutable").send(await predictions.outputBytes(out));
  });

  // A graceful shutdown: new predictions are refused, those this process runs finish, then the server stops.
  app.post("/shutdown", async () => {
    ctx.shutdown?.();
    return {};
  });

  return app;
}
