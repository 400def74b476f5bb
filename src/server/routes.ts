// The HTTP API (Cog's prediction API plus polling and event streams) and the web page, on fastify.
import { randomUUID, timingSafeEqual } from "node:crypto";
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { InputError, validationDetails } from "./errors.js";
import { toGenerateRequest } from "./inputs.js";
import { openApiDocument } from "./openapi.js";
import type { Asset } from "./page.js";
import { QueueFullError, UnavailableError, type Backend } from "./backend.js";
import { ID_MAX_LENGTH, ID_PARAMS_SCHEMA, inputSchema, predictionRequestSchema, SCHEMA_ANNOTATIONS, type PredictionRequest } from "./schema.js";
import type { FieldLimits } from "../request/fields.js";
import type { StreamEvent } from "./job.js";
import { isStorageFull, isTerminal, type Prediction } from "./store.js";
import { UrlRefusedError, type UrlPolicy } from "./url-policy.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** Served without the bearer token. Every route needs the token unless it says `public: true`. */
    public?: boolean;
  }
}

/** Room for a few images as data URLs (each at most IMAGE_URL_LIMITS.maxBytes). */
const BODY_LIMIT = 64 * 2 ** 20;
const KEEPALIVE_MS = 15_000;

export interface AppContext {
  backend: Backend;
  page: Map<string, Asset>;
  version: string;
  token?: string;
  uploadUrl?: string;
  /** Time a client has to send a whole request (headers and body). */
  requestTimeoutMs: number;
  maxInputPixels: number;
  /** Which hosts request-supplied URLs (images, webhooks, output_file_prefix) may reach. */
  urlPolicy: UrlPolicy;
  /** The server's limits on request fields: in the published schema, and applied to every API (admit.ts). */
  limits: FieldLimits;
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
    // Unknown input fields are refused rather than dropped, and types are not coerced: "512" is not a width.
    // Formats stay annotations (OpenAPI's "uri" marks file inputs): ajv-formats' URI regex overflows the stack
    // on a data URL of a few MB. Patterns check the schemes; URLs are parsed where they are used.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, validateFormats: false, keywords: SCHEMA_ANNOTATIONS } },
  });

  app.setErrorHandler((err: Error & { validation?: never[]; validationContext?: string; statusCode?: number }, _req, reply) => {
    if (err.validation) {
      const where = err.validationContext === "params" ? "path" : err.validationContext ?? "body";
      return reply.code(422).send({ detail: validationDetails(err.validation, where) });
    }
    if (err instanceof InputError) return reply.code(422).send({ detail: [err.detail] });
    if (err instanceof UnavailableError) return reply.code(503).send({ detail: err.message });
    if (isStorageFull(err)) {
      console.error("kandinsky serve:", err.message);
      return reply.code(507).send({ detail: `the server's storage is full, so the prediction cannot be stored (${(err as NodeJS.ErrnoException).code}); retry later` });
    }
    const code = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (code === 500) console.error("kandinsky serve:", err);
    return reply.code(code).send({ detail: code === 500 ? `internal error: ${err.message}` : err.message });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ detail: `Not Found: ${req.method} ${req.url.split("?")[0]}` }));

  // Decided on the route that matched (after the router decoded and normalised the path), never on the raw
  // URL text: "/%70redictions" and "http://host/predictions" are /predictions too. Routes are closed unless
  // they say `config: { public: true }`; an unknown path needs the token as well, so probing reveals nothing.
  if (ctx.token) {
    const expected = Buffer.from(`Bearer ${ctx.token}`);
    app.addHook("onRequest", async (req, reply) => {
      if (req.routeOptions.config.public) return;
      const got = Buffer.from(req.headers.authorization ?? "");
      if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
        return reply.code(401).header("www-authenticate", "Bearer").send({ detail: "missing or wrong bearer token (Authorization: Bearer <token>)" });
      }
    });
  }
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

  const input = inputSchema(ctx.limits);
  const openapi = openApiDocument(ctx.version, input);
  app.get("/openapi.json", open, () => openapi);

  // UNHEALTHY (the cluster's Redis is unreachable) is a 503, for load balancers; every other state is a 200.
  app.get("/health-check", open, async (_req, reply) => {
    const health = await backend.health();
    return reply.code(health.status === "UNHEALTHY" ? 503 : 200).send({ ...health, version: { kandinsky: ctx.version } });
  });

  const reply200or202 = async (reply: FastifyReply, found: Prediction, respondAsync: boolean) => {
    const prediction = respondAsync ? found : await backend.done(found.id);
    return reply.code(respondAsync ? 202 : 200).send(prediction);
  };

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
    const id = pathId ?? body.id;
    const respondAsync = /\brespond-async\b/.test(String(req.headers.prefer ?? ""));
    const why = await backend.notReady();
    if (why) return reply.code(503).send({ detail: why });
    // The same id again is the same prediction (Cog's idempotent creation), not a second run.
    const existing = id === undefined ? undefined : await backend.get(id);
    if (existing) return reply200or202(reply, existing, respondAsync);
    const { request, output } = await toGenerateRequest(body.input, {
      canInpaint: await backend.canInpaint(), limits: ctx.limits, maxInputPixels: ctx.maxInputPixels, urlPolicy: ctx.urlPolicy,
    });

    const prediction: Prediction = {
      id: id ?? randomUUID().replaceAll("-", ""),
      input: body.input,
      output: null,
      logs: "",
      error: null,
      status: "starting",
      created_at: new Date().toISOString(),
      started_at: null,
      completed_at: null,
      metrics: {},
    };
    let created: Prediction;
    try {
      created = await backend.submit({
        prediction,
        request,
        output,
        webhook: body.webhook ? { url: body.webhook, events: body.webhook_events_filter } : undefined,
        uploadTo: body.output_file_prefix ?? ctx.uploadUrl,
      });
    } catch (e) {
      if (e instanceof QueueFullError) return reply.code(409).send({ detail: e.message });
      throw e;
    }
    return reply200or202(reply, created, respondAsync);
  };

  const bodySchema = { body: predictionRequestSchema(input) };
  const idSchema = { params: ID_PARAMS_SCHEMA };
  app.post("/predictions", { schema: bodySchema }, (req, reply) => create(req, reply));
  app.put("/predictions/:id", { schema: { ...bodySchema, ...idSchema } }, (req: IdRequest, reply) => create(req, reply, req.params.id));

  app.get("/predictions/:id", { schema: idSchema }, async (req: IdRequest, reply) => {
    const found = await backend.get(req.params.id);
    return found ?? notFound(reply);
  });

  app.post("/predictions/:id/cancel", { schema: idSchema }, async (req: IdRequest, reply) => {
    const found = await backend.cancel(req.params.id);
    return found ?? notFound(reply);
  });

  // Server-sent events: "prediction" (the state on connecting), then start, progress, logs, output and
  // completed (the final prediction), after which the stream ends.
  app.get("/predictions/:id/events", { schema: idSchema }, async (req: IdRequest, reply) => {
    const res = reply.raw;
    const write = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    let keepAlive: NodeJS.Timeout | undefined;
    const stop = () => {
      clearInterval(keepAlive);
      watch?.stop();
      res.end();
    };
    // Events that come before the stream's head is written wait for it.
    const early: StreamEvent[] = [];
    let opened = false;
    const watch = await backend.watch(req.params.id, (e) => {
      if (!opened) return void early.push(e);
      write(e.event, e.data);
      if (e.event === "completed") stop();
    });
    if (!watch) return notFound(reply);
    reply.hijack();
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    if (isTerminal(watch.snapshot.status)) {
      write("completed", watch.snapshot);
      return stop();
    }
    write("prediction", watch.snapshot);
    opened = true;
    for (const e of early.splice(0)) {
      write(e.event, e.data);
      if (e.event === "completed") return stop();
    }
    keepAlive = setInterval(() => res.write(": keep-alive\n\n"), KEEPALIVE_MS);
    req.raw.on("close", stop);
  });

  return app;
}
