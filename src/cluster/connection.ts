// Connections to the cluster's Redis. A front answers HTTP requests, so its commands fail at once while Redis is
// unreachable (the client gets a 503 and retries) instead of waiting; a worker's commands wait for Redis to come
// back (ioredis reconnects on its own), so what it reports during an outage is sent when it returns.
import { Redis } from "ioredis";
import { UnavailableError } from "../server/backend.js";
import { redisWhere } from "./redis-url.js";

/** One warning per outage, and one line when Redis is back. */
function reportOutages(redis: Redis, who: string, url: string): Redis {
  let down = false;
  redis.on("error", (e: Error) => {
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

export function frontConnection(url: string): Redis {
  return reportOutages(new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 }), "kandinsky serve", url);
}

export function workerConnection(url: string): Redis {
  return reportOutages(new Redis(url, { maxRetriesPerRequest: null }), "kandinsky worker", url);
}

/** Runs `fn`; a failure while the connection is down becomes an UnavailableError (a 503). */
export async function guard<T>(redis: Redis, url: string, fn: () => Promise<T>): Promise<T> {
  const unavailable = (why: string) => new UnavailableError(`the cluster's Redis (${redisWhere(url)}) is unreachable (${why}); retry later`);
  if (redis.status !== "ready") throw unavailable(redis.status);
  try {
    return await fn();
  } catch (e) {
    if (redis.status !== "ready") throw unavailable((e as Error).message);
    throw e;
  }
}
