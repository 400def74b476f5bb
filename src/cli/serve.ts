// `kandinsky serve`: the HTTP API (src/server) on top of the same model and device options as the image
// commands; the models are resolved (downloaded if needed) when the server starts.
import { InvalidArgumentError, Option, type Command } from "commander";
import { ROLES } from "../pipelines/roles.js";
import { addModelOptions, servingModels, type ModelOptions } from "./models.js";
import { redisWhere } from "../cluster/redis-url.js";
import { addDefaultOptions, integer, nonNegativeInteger, positiveInteger, redisUrl, seconds, untilSignal, url } from "./options.js";
import { say, UserError } from "./errors.js";
import type { ServeOptions } from "../server/index.js";
import { CLUSTER_DEFAULTS, LIMIT_DEFAULTS } from "../server/limits.js";
import { LIMITS, limitRange, type LimitName } from "../request/fields.js";
import { parseApiAuth } from "../server/auth.js";

type Renamed = "models" | "predictTimeoutS" | "stopGraceS" | "requestTimeoutS" | "cluster" | "dataDir" | "apiAuth" | "defaults";
interface ServeCliOptions extends ModelOptions, Omit<ServeOptions, Renamed> {
  dataDir: string;
  predictTimeout?: number;
  stopGrace?: number;
  requestTimeout?: number;
  apiAuth?: string;
  redis?: string;
  queueName: string;
  maxAttempts: number;
  resultTtl: number;
}

function port(value: string): number {
  const n = integer(value);
  if (n < 0 || n > 65535) throw new InvalidArgumentError("expected a port from 0 to 65535 (0: any free port)");
  return n;
}

function credentials(value: string): string {
  try {
    parseApiAuth(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
  return value;
}

function hosts(value: string, previous: string[] = []): string[] {
  const list = value.split(",").map((h) => h.trim()).filter(Boolean);
  if (list.length === 0) throw new InvalidArgumentError("expected host names, comma-separated");
  return [...previous, ...list];
}

const d = LIMIT_DEFAULTS;
/** What only a process that loads models takes: with --redis, the workers'. */
const MODEL_FLAGS = [...ROLES, "offline", "device", "threads", "keepLoaded"] as const;
const flag = (name: string) => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** What each request-field limit bounds (src/request/fields.ts says which fields). */
const LIMIT_HELP: Record<LimitName, string> = {
  maxSize: "largest width and height",
  maxOutputs: "most images",
  maxSteps: "most decoder and prior steps",
};

export function addServeCommand(program: Command): void {
  const cmd = program
    .command("serve")
    .description("serve the models over HTTP")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--port <port>", "port to listen on", port, 5000)
    .addOption(new Option("--token <token>", "require the header Authorization: Bearer <token> (the OpenAI API's key too)").env("KANDINSKY_TOKEN"))
    .addOption(new Option("--api-auth <user:password>", "HTTP Basic credentials for the AUTOMATIC1111 API (comma-separated for several), as A1111's --api-auth").argParser(credentials))
    .option("--upload-url <url>", "PUT output files to <url>/<name> instead of returning data URLs (as Cog's --upload-url)", url)
    .option("--data-dir <dir>", "where requests and results are kept", "kandinsky-data")
    .option("--queue-size <n>", "how many predictions may wait behind the running one (with --redis: while every worker is busy)", nonNegativeInteger, 8)
    .option("--predict-timeout <s>", `time limit of one prediction in seconds, model loading included (default: ${d.predictTimeoutS})`, seconds)
    .option("--stop-grace <s>", `seconds a prediction past its time limit may take to reach its next step before its worker is killed (default: ${d.stopGraceS})`, seconds)
    .option("--request-timeout <s>", `seconds a client has to send a whole request, headers and body (default: ${d.requestTimeoutS})`, seconds)
    .option("--max-input-pixels <n>", `largest image input in pixels, checked before decoding (default: ${d.maxInputPixels}, 4096x4096)`, positiveInteger)
    .option("--deny-private-urls", "refuse image, webhook and upload URLs that resolve to loopback or private addresses (default: on unless --host is loopback)")
    .option("--no-deny-private-urls", "reach any address")
    .option("--allow-url-hosts <hosts>", "comma-separated hosts (or *.domain) reached even at private addresses", hosts)
    .option("--redis <url>", "be a front of a cluster: load no models, run predictions on `kandinsky worker`s sharing this Redis (redis://[:password@]host:port[/db])", redisUrl)
    .option("--queue-name <name>", "with --redis: the queue (and key prefix) fronts and workers share", CLUSTER_DEFAULTS.queueName)
    .option("--max-attempts <n>", "with --redis: how many times a prediction is started when the workers running it die", positiveInteger, CLUSTER_DEFAULTS.maxAttempts)
    .option("--result-ttl <s>", "with --redis: seconds a finished prediction and its outputs stay in Redis", positiveInteger, CLUSTER_DEFAULTS.resultTtlS);
  for (const name of Object.keys(LIMITS) as LimitName[]) {
    cmd.option(`${LIMITS[name]} <n>`, `${LIMIT_HELP[name]} a request may ask for, in every API; up to the library's ${limitRange(name).maximum} (default: ${d[name]})`, positiveInteger);
  }
  const defaults = addDefaultOptions(cmd);
  addModelOptions(cmd, ROLES);
  cmd.addHelpText("after", `
Examples:
  $ kandinsky serve
  $ KANDINSKY_TOKEN=secret kandinsky serve --host 0.0.0.0 --port 8080 --device cuda --keep-loaded
  $ kandinsky serve --prior ./kandinsky-2-1-prior --decoder ./kandinsky-2-1 --inpaint ./kandinsky-2-1-inpaint --offline
  $ kandinsky serve --precision int8    # requests that name no precision get the int8 UNet
  $ kandinsky serve --redis redis://queue.internal:6379 --host 0.0.0.0    # a front; see kandinsky worker --help
`);
  cmd.action(async (o: ServeCliOptions) => {
    const modelFlag = o.redis ? MODEL_FLAGS.find((f) => cmd.getOptionValueSource(f) === "cli") : undefined;
    if (modelFlag) throw new UserError(`${flag(modelFlag)} is a worker's option: with --redis this server loads no models (pass it to kandinsky worker)`);
    // Loaded here: the other commands need neither the server nor its HTTP stack.
    const { startServer } = await import("../server/index.js");
    const server = await startServer({
      host: o.host, port: o.port, token: o.token, apiAuth: o.apiAuth === undefined ? undefined : parseApiAuth(o.apiAuth), uploadUrl: o.uploadUrl, queueSize: o.queueSize,
      predictTimeoutS: o.predictTimeout, stopGraceS: o.stopGrace, requestTimeoutS: o.requestTimeout, maxInputPixels: o.maxInputPixels,
      denyPrivateUrls: o.denyPrivateUrls, allowUrlHosts: o.allowUrlHosts,
      maxSize: o.maxSize, maxOutputs: o.maxOutputs, maxSteps: o.maxSteps, defaults: defaults(o),
      ...(o.redis
        ? { cluster: { redisUrl: o.redis, queueName: o.queueName, maxAttempts: o.maxAttempts, resultTtlS: o.resultTtl } }
        : { dataDir: o.dataDir, models: servingModels(o) }),
    }).catch((e: Error) => {
      // Failing to start is a matter of the options and the machine (address in use, data folder unwritable).
      throw new UserError(e.message, { cause: e });
    });
    say(`serving on ${server.url}${o.redis ? ` as a front of the cluster on ${redisWhere(o.redis)} (queue ${o.queueName})` : ""}`);
    // POST /shutdown stops the server once what it runs has ended; a signal stops it at once.
    const signal = await Promise.race([untilSignal(), server.stopped.then(() => undefined)]);
    if (signal === undefined) {
      say("stopped (POST /shutdown)");
      return;
    }
    say(`${signal}: stopping (a second one ends at once)`);
    await server.close();
  });
}
