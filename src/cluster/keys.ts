// Every Redis key and channel the cluster uses, under the queue's name, in one place. BullMQ keeps its own
// under "bull:<queue>:".
export class Keys {
  constructor(readonly queue: string) {}

  /** Hash: input, state, logs, attempt, worker, job (see records.ts). */
  record(id: string): string {
    return `${this.queue}:prediction:${id}`;
  }

  /** The admitted request (images decoded, seed drawn), v8-serialized; deleted when the prediction ends. */
  request(id: string): string {
    return `${this.queue}:request:${id}`;
  }

  /** An output file, by its name (`<id>-<n>.<ext>`). */
  output(name: string): string {
    return `${this.queue}:output:${name}`;
  }

  /** Channel: a prediction's stream events. */
  events(id: string): string {
    return `${this.queue}:events:${id}`;
  }

  /** Channel: prediction ids to cancel, heard by every worker. */
  get cancel(): string {
    return `${this.queue}:cancel`;
  }

  /** Set while a cancel is pending for a prediction a worker may be taking. */
  canceled(id: string): string {
    return `${this.queue}:canceled:${id}`;
  }

  /** Set once the completed webhook of a prediction has been delivered (or given up). */
  hooked(id: string): string {
    return `${this.queue}:hooked:${id}`;
  }

  /** Set of worker ids that have heartbeated; each one's state in worker(id), which expires when it stops. */
  get workers(): string {
    return `${this.queue}:workers`;
  }

  worker(id: string): string {
    return `${this.queue}:worker:${id}`;
  }
}

/** BullMQ job id of a prediction (BullMQ refuses ids that read as integers, and ids are ours to choose). */
export const jobId = (id: string) => `prediction-${id}`;
