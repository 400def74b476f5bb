// Predictions in Redis, read and written by fronts and workers alike. A record is a hash:
//   input    the validated input (JSON), written once
//   state    status, output, error, timestamps, metrics (JSON)
//   logs     the logs so far
//   job      how to run and report it (ClusterJob, JSON), the front's settings at creation
//   attempt  which start of its BullMQ job owns it ("0": queued, not taken yet), worker: which worker that is
// Each change is one Lua script, so that a record is created once whichever front gets there first, and only
// the attempt that owns a prediction writes it: a worker presumed dead whose job runs elsewhere cannot
// overwrite what the new attempt reports.
import { deserialize, serialize } from "node:v8";
import type { Redis } from "ioredis";
import type { ResolvedOutput, ResolvedRequest } from "../request/fields.js";
import type { WebhookSpec } from "../server/backend.js";
import type { StreamEvent } from "../server/job.js";
import type { OutputFile, OutputStore } from "../server/outputs.js";
import type { Prediction } from "../server/store.js";
import type { UrlPolicyOptions } from "../server/url-policy.js";
import type { Keys } from "./keys.js";

/** What a worker needs besides the input, as the front that accepted the prediction was configured. */
export interface ClusterJob {
  output: ResolvedOutput;
  webhook?: WebhookSpec;
  uploadTo?: string;
  urlPolicy: UrlPolicyOptions;
  timeoutMs: number;
  /** How many times the prediction may be started before its workers' deaths fail it. */
  maxAttempts: number;
  /** Seconds a finished record and its outputs are kept. */
  resultTtlS: number;
}

const SCRIPTS = {
  // KEYS: record, request. ARGV: input, state, job, request. 1 when created, 0 when the id is taken.
  kandinskyCreate: [2, `
if redis.call("EXISTS", KEYS[1]) == 1 then return 0 end
redis.call("HSET", KEYS[1], "input", ARGV[1], "state", ARGV[2], "logs", "", "job", ARGV[3], "attempt", "0", "worker", "")
redis.call("SET", KEYS[2], ARGV[4])
return 1`],
  // KEYS: record. ARGV: attempt, worker. Takes a prediction that is not terminal for an attempt; returns the record
  // and the worker that held it before, or nil when there is no record.
  kandinskyClaim: [1, `
if redis.call("EXISTS", KEYS[1]) == 0 then return false end
local previous = redis.call("HGET", KEYS[1], "worker")
local status = cjson.decode(redis.call("HGET", KEYS[1], "state")).status
if status ~= "succeeded" and status ~= "failed" and status ~= "canceled" then
  redis.call("HSET", KEYS[1], "attempt", ARGV[1], "worker", ARGV[2])
end
return {previous, redis.call("HGET", KEYS[1], "input"), redis.call("HGET", KEYS[1], "state"), redis.call("HGET", KEYS[1], "logs"), redis.call("HGET", KEYS[1], "job")}`],
  // KEYS: record, request. ARGV: attempt, state, logs, ttl ("" while not terminal). 0 when the attempt no longer owns it.
  kandinskyUpdate: [2, `
if redis.call("HGET", KEYS[1], "attempt") ~= ARGV[1] then return 0 end
redis.call("HSET", KEYS[1], "state", ARGV[2], "logs", ARGV[3])
if ARGV[4] ~= "" then
  redis.call("EXPIRE", KEYS[1], tonumber(ARGV[4]))
  redis.call("DEL", KEYS[2])
end
return 1`],
} as const;

type Commands = { [K in keyof typeof SCRIPTS]: (...args: (string | Buffer)[]) => Promise<unknown> };

/** The `attempt` of a prediction no worker has taken. */
export const QUEUED = "0";

const stateOf = (p: Prediction) => JSON.stringify({
  status: p.status, output: p.output, error: p.error, created_at: p.created_at, started_at: p.started_at, completed_at: p.completed_at, metrics: p.metrics,
});

function compose(id: string, input: string, state: string, logs: string): Prediction {
  const s = JSON.parse(state) as Omit<Prediction, "id" | "input" | "logs">;
  return {
    id, input: JSON.parse(input) as Prediction["input"], output: s.output, logs, error: s.error, status: s.status,
    created_at: s.created_at, started_at: s.started_at, completed_at: s.completed_at, metrics: s.metrics,
  };
}

export interface Claimed {
  prediction: Prediction;
  job: ClusterJob;
  /** The worker that held it before this attempt ("" for none). */
  previous: string;
}

export class Records {
  private readonly commands: Commands;

  constructor(private readonly redis: Redis, readonly keys: Keys) {
    for (const [name, [numberOfKeys, lua]] of Object.entries(SCRIPTS)) redis.defineCommand(name, { numberOfKeys, lua });
    this.commands = redis as unknown as Commands;
  }

  /** Stores a new prediction with its decoded request; false when the id is taken. */
  async create(p: Prediction, job: ClusterJob, request: ResolvedRequest): Promise<boolean> {
    const created = await this.commands.kandinskyCreate(
      this.keys.record(p.id), this.keys.request(p.id), JSON.stringify(p.input), stateOf(p), JSON.stringify(job), serialize(request),
    );
    return created === 1;
  }

  async get(id: string): Promise<{ prediction: Prediction; job: ClusterJob; attempt: string } | undefined> {
    const [input, state, logs, job, attempt] = await this.redis.hmget(this.keys.record(id), "input", "state", "logs", "job", "attempt");
    if (input === null || state === null) return undefined;
    return { prediction: compose(id, input, state, logs ?? ""), job: JSON.parse(job!) as ClusterJob, attempt: attempt ?? QUEUED };
  }

  /** Takes a prediction for one start of its job; undefined when its record is gone (expired). */
  async claim(id: string, attempt: string, worker: string): Promise<Claimed | undefined> {
    const r = (await this.commands.kandinskyClaim(this.keys.record(id), attempt, worker)) as string[] | null;
    if (!r) return undefined;
    const [previous, input, state, logs, job] = r;
    return { prediction: compose(id, input, state, logs), job: JSON.parse(job) as ClusterJob, previous: previous || "" };
  }

  /** Writes the prediction's state and logs as `attempt`; a terminal one (with a TTL) expires then. False when `attempt` does not own it. */
  async update(p: Prediction, attempt: string, ttlS?: number): Promise<boolean> {
    const r = await this.commands.kandinskyUpdate(this.keys.record(p.id), this.keys.request(p.id), attempt, stateOf(p), p.logs, ttlS === undefined ? "" : String(ttlS));
    return r === 1;
  }

  /** Just the status (the record may hold megabytes of images): undefined when there is no record. */
  async status(id: string): Promise<Prediction["status"] | undefined> {
    const state = await this.redis.hget(this.keys.record(id), "state");
    return state === null ? undefined : (JSON.parse(state) as Prediction).status;
  }

  markHooked(id: string, ttlS: number): Promise<unknown> {
    return this.redis.set(this.keys.hooked(id), "1", "EX", ttlS);
  }

  async hooked(id: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.hooked(id))) === 1;
  }

  async request(id: string): Promise<ResolvedRequest | undefined> {
    const blob = await this.redis.getBuffer(this.keys.request(id));
    return blob ? (deserialize(blob) as ResolvedRequest) : undefined;
  }

  publish(id: string, e: StreamEvent): Promise<unknown> {
    return this.redis.publish(this.keys.events(id), JSON.stringify(e));
  }

  /** Output files, kept as long as the record. */
  outputs(ttlS: number): OutputStore {
    return {
      put: async (files: OutputFile[]) => {
        const m = this.redis.multi();
        for (const f of files) m.set(this.keys.output(f.name), f.bytes, "EX", ttlS);
        const results = await m.exec();
        const failed = results?.find(([e]) => e);
        if (!results || failed) throw failed?.[0] ?? new Error("the Redis transaction was discarded");
      },
    };
  }
}
