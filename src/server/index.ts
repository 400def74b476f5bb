// `kandinsky serve`: Cog's HTTP prediction API, the OpenAI and AUTOMATIC1111 image APIs and a web page over one
// inference Engine, or, with `cluster`, an HTTP front of workers that share a Redis (src/cluster).
import { readFileSync } from "node:fs";
import type { WorkerInit } from "../engine/protocol.js";
import { LocalBackend } from "./local-backend.js";
import { loadPage } from "./page.js";
import { buildApp } from "./routes.js";
import type { Backend } from "./backend.js";
import type { CreateEngine } from "./execute.js";
import { CLUSTER_DEFAULTS, LIMIT_DEFAULTS } from "./limits.js";
import { LIMITS, limitRange, type FieldDefaults, type FieldLimits, type LimitName } from "../request/fields.js";
import { checkDefaults } from "../request/resolve.js";
import { isLoopbackHost, UrlPolicy } from "./url-policy.js";

export interface ServeOptions {
  host: string;
  port: number;
  token?: string;
  /** "user:password" pairs (parseApiAuth): HTTP Basic for the AUTOMATIC1111 routes, as A1111's --api-auth. */
  apiAuth?: string[];
  uploadUrl?: string;
  /** The local server's records and outputs. */
  dataDir?: string;
  queueSize: number;
  /** The local server's models: resolves (downloads) them; called at startup. */
  models?: () => Promise<WorkerInit>;
  /** A front of a cluster instead: no models, no data folder; predictions run on `kandinsky worker`s. */
  cluster?: ClusterServeOptions;
  /** Time limit of one prediction, model loading included. Defaults: LIMIT_DEFAULTS. */
  predictTimeoutS?: number;
  /** How long a prediction past its limit may take to reach its next step before its worker is killed. */
  stopGraceS?: number;
  /** Time a client has to send a whole request, headers and body; slower ones get a 408. */
  requestTimeoutS?: number;
  /** Largest image input, in pixels; larger ones get a 422 before they are decoded. */
  maxInputPixels?: number;
  /**
   * Request fields' maxima below the library's, applied to every API of the server and published in its schema:
   * largest width and height, most images, most decoder and prior steps. Defaults: LIMIT_DEFAULTS.
   */
  maxSize?: number;
  maxOutputs?: number;
  maxSteps?: number;
  /**
   * Defaults for requests that do not give the field, for the fields that allow one (serve --precision): applied
   * to every API and published in the schema (the web form preselects them).
   */
  defaults?: FieldDefaults;
  /** Refuse request-supplied URLs that resolve to private addresses. Default: when `host` is not loopback. */
  denyPrivateUrls?: boolean;
  /** Hosts request-supplied URLs may reach even at private addresses (the --upload-url host is one). */
  allowUrlHosts?: string[];
  /** Makes the inference engine, at the start and to replace a crashed or hung one. Default: `new Engine(init, events)`. */
  createEngine?: CreateEngine;
}

export interface ClusterServeOptions {
  redisUrl: string;
  /** Defaults: CLUSTER_DEFAULTS. */
  queueName?: string;
  maxAttempts?: number;
  resultTtlS?: number;
}

const { version } = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };

/**
 * Listens at once (GET /health-check says STARTING) and calls `models()` in the background: READY when it
 * resolves, SETUP_FAILED with its error when it rejects. Records and outputs live under `dataDir`. A cluster's
 * front is READY when a worker is.
 */
export interface RunningServer {
  url: string;
  /** Stops at once: what is queued or running fails, with a reason. */
  close(): Promise<void>;
  /** Resolves when the server has stopped: after close(), or after a graceful POST /shutdown. */
  stopped: Promise<void>;
}

export async function startServer(o: ServeOptions): Promise<RunningServer> {
  if (!Number.isInteger(o.queueSize) || o.queueSize < 0) throw new Error(`queue size must be an integer >= 0, got ${o.queueSize}`);
  const seconds = (name: string, value: number) => {
    if (!(value > 0)) throw new Error(`${name} must be > 0 seconds, got ${value}`);
    return value * 1000;
  };
  const timeoutMs = seconds("the prediction time limit", o.predictTimeoutS ?? LIMIT_DEFAULTS.predictTimeoutS);
  const stopGraceMs = seconds("the stop grace", o.stopGraceS ?? LIMIT_DEFAULTS.stopGraceS);
  const requestTimeoutMs = seconds("the request timeout", o.requestTimeoutS ?? LIMIT_DEFAULTS.requestTimeoutS);
  const maxInputPixels = o.maxInputPixels ?? LIMIT_DEFAULTS.maxInputPixels;
  if (!(Number.isInteger(maxInputPixels) && maxInputPixels > 0)) throw new Error(`the input pixel limit must be an integer > 0, got ${maxInputPixels}`);
  const limits: FieldLimits = {};
  for (const name of Object.keys(LIMITS) as LimitName[]) {
    const value = o[name] ?? LIMIT_DEFAULTS[name];
    const { minimum, maximum } = limitRange(name);
    if (!(Number.isInteger(value) && value >= minimum && value <= maximum)) {
      throw new Error(`${LIMITS[name]} must be an integer from ${minimum} to ${maximum}, got ${value}`);
    }
    limits[name] = value;
  }
  const defaults = checkDefaults(o.defaults ?? {});
  const urlPolicy = new UrlPolicy({
    denyPrivate: o.denyPrivateUrls ?? !isLoopbackHost(o.host),
    allowHosts: [...(o.allowUrlHosts ?? []), ...(o.uploadUrl ? [new URL(o.uploadUrl).hostname] : [])],
  });

  let backend: Backend;
  if (o.cluster) {
    const c = o.cluster;
    const maxAttempts = c.maxAttempts ?? CLUSTER_DEFAULTS.maxAttempts;
    if (!(Number.isInteger(maxAttempts) && maxAttempts >= 1)) throw new Error(`the attempts must be an integer >= 1, got ${maxAttempts}`);
    const resultTtlS = c.resultTtlS ?? CLUSTER_DEFAULTS.resultTtlS;
    if (!(Number.isInteger(resultTtlS) && resultTtlS >= 1)) throw new Error(`the result TTL must be an integer >= 1 second, got ${resultTtlS}`);
    // Loaded here: the single-process server needs neither BullMQ nor a Redis client.
    const { ClusterBackend } = await import("../cluster/front.js");
    backend = await ClusterBackend.open({
      redisUrl: c.redisUrl, queueName: c.queueName ?? CLUSTER_DEFAULTS.queueName, queueSize: o.queueSize, maxAttempts, resultTtlS, timeoutMs, urlPolicy,
    });
  } else {
    if (!o.models || o.dataDir === undefined) throw new Error("a server without a cluster needs its models and a data folder");
    backend = await LocalBackend.open({ dataDir: o.dataDir, queueSize: o.queueSize, timeoutMs, stopGraceMs, urlPolicy, models: o.models, createEngine: o.createEngine });
  }
  let closing: Promise<void> | undefined;
  let markStopped!: () => void;
  const stopped = new Promise<void>((r) => (markStopped = r));
  const close = () => (closing ??= (async () => {
    await backend.close();
    await app.close();
    markStopped();
  })());
  const app = buildApp({
    backend, version, page: await loadPage(), token: o.token, apiAuth: o.apiAuth, uploadUrl: o.uploadUrl, requestTimeoutMs, maxInputPixels,
    urlPolicy, limits, defaults, shutdown: () => void (backend.drain?.() ?? Promise.resolve()).then(close),
  });
  try {
    await app.listen({ host: o.host, port: o.port });
  } catch (e) {
    await app.close();
    await backend.close();
    const why = (e as NodeJS.ErrnoException).code === "EADDRINUSE" ? "the address is already in use" : (e as Error).message;
    throw new Error(`cannot listen on ${o.host}:${o.port}: ${why}`);
  }

  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : o.port;
  const host = o.host === "0.0.0.0" || o.host === "::" ? "localhost" : o.host.includes(":") ? `[${o.host}]` : o.host;
  return { url: `http://${host}:${port}`, close, stopped };
}
