// Worker heartbeats: each worker rewrites its state under a key that expires unless renewed, so a worker that
// dies (kill -9, a lost machine) drops out of /health-check on its own. Expiry is Redis's clock, not the hosts'.
import type { Redis } from "ioredis";
import type { WorkerReport } from "../server/backend.js";
import type { Keys } from "./keys.js";

export class Registry {
  constructor(private readonly redis: Redis, private readonly keys: Keys) {}

  async beat(w: WorkerReport, ttlMs: number): Promise<void> {
    await this.redis.multi().sadd(this.keys.workers, w.id).set(this.keys.worker(w.id), JSON.stringify(w), "PX", ttlMs).exec();
  }

  async leave(id: string): Promise<void> {
    await this.redis.multi().srem(this.keys.workers, id).del(this.keys.worker(id)).exec();
  }

  /** The workers whose last heartbeat has not expired; the others are dropped from the set. */
  async live(): Promise<WorkerReport[]> {
    const ids = await this.redis.smembers(this.keys.workers);
    if (ids.length === 0) return [];
    const states = await this.redis.mget(ids.map((id) => this.keys.worker(id)));
    const gone = ids.filter((_, i) => states[i] === null);
    if (gone.length) await this.redis.srem(this.keys.workers, ...gone);
    return states.filter((s): s is string => s !== null).map((s) => JSON.parse(s) as WorkerReport).sort((a, b) => a.id.localeCompare(b.id));
  }
}
