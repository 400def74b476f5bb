// Connections to the cluster's Redis. A front answers HTTP requests, so its commands fail at once while Redis is
// unreachable (the client gets a 503 and retries) instead of waiting; a worker's commands wait for Redis to come
// back (ioredis reconnects on its own), so what it reports during an outage is sent when it returns.
import { Redis } from "ioredis";
import { UnavailableError } from "../server/backend.js";
import { redisWhere } from "./redis-url.js";

/** The last connection error of each connection, for the 503's message. */
const lastError = new WeakMap<Redis, string>();

/** One warning per outage, and one line when Redis is back. */
function reportOutages(redis: Redis, who: string, url: string): Redis {
  let down = false;
  redis.on("error", (e: Error) => {
    lastError.set(redis, e.message);
    if (down) return;
    down = true;
    console.warn(`${who}: Redis at ${redisWhere(url)} is unreachable (${e.message}); reconnecting`);
  });
  redis.on("ready", () => {
    if (down) console.warn(`${who}: Redis at ${redisWhere(url)} is back`);
    down = false;
  });
  return redis;
}

/** Reconnects within a second of Redis coming back (ioredis' default waits up to 2 s). */
const retryStrategy = (times: number) => Math.min(times * 100, 1000);

export function frontConnection(url: string): Redis {
  return reportOutages(new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy }), "kandinsky serve", url);
}

export function workerConnection(url: string): Redis {
  return reportOutages(new Redis(url, { maxRetriesPerRequest: null, retryStrategy }), "kandinsky worker", url);
}

/** What ioredis (and the socket under it) says when the connection is lost, possibly before its status shows it. */
const CONNECTION_LOST = /Connection is closed|Stream isn't writeable|max retries per request|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND/i;

/** Runs `fn`; a failure while the connection is down becomes an UnavailableError (a 503). */
export async function guard<T>(redis: Redis, url: string, fn: () => Promise<T>): Promise<T> {
  const unavailable = (why: string) => new UnavailableError(`the cluster's Redis (${redisWhere(url)}) is unreachable (${why}); retry later`);
  if (redis.status !== "ready") throw unavailable(lastError.get(redis) ?? redis.status);
  try {
    return await fn();
  } catch (e) {
    const message = (e as Error).message;
    if (redis.status !== "ready" || CONNECTION_LOST.test(message)) throw unavailable(message);
    throw e;
  }
}
