// A prediction's server-sent events, in two vocabularies: ours on GET /predictions/{id}/events ("prediction"
// with the state on connecting, then start, progress with step previews, logs, output, completed) and coglet's
// on POST / PUT /predictions with `Accept: text/event-stream` (start, output, log, metric, completed). Both
// end after completed and send a keep-alive comment while quiet. A prediction created by an event-stream
// request is cancelled when the last stream on it (on this server) closes, as coglet does.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Backend } from "./backend.js";
import type { StreamEvent } from "./job.js";
import { isTerminal, type Prediction } from "./store.js";

const KEEPALIVE_MS = 15_000;

type Event = [name: string, data: unknown];
/** How a vocabulary opens (the state at connection time) and translates the live events. */
interface Vocabulary {
  replay(p: Prediction): Event[];
  live(e: StreamEvent): Event[];
}

const OURS: Vocabulary = {
  replay: (p) => [isTerminal(p.status) ? ["completed", p] : ["prediction", p]],
  live: (e) => [[e.event, e.data]],
};

const seedMetric = (p: Prediction): Event[] => (p.metrics.seed === undefined ? [] : [["metric", { name: "seed", value: p.metrics.seed, mode: "replace" }]]);
const outputs = (p: Prediction): Event[] => (p.output ?? []).map((chunk, index) => ["output", { chunk, index }]);

const COGLET: Vocabulary = {
  replay: (p) => [
    ...(p.status === "starting" ? [] : [["start", { id: p.id, status: "processing" }] as Event, ...seedMetric(p)]),
    ...(p.logs ? [["log", { source: "stdout", data: p.logs }] as Event] : []),
    ...outputs(p),
    ...(isTerminal(p.status) ? [["completed", p] as Event] : []),
  ],
  live: (e) => {
    switch (e.event) {
      case "start": return [["start", { id: e.data.id, status: e.data.status }], ...seedMetric(e.data)];
      case "logs": return [["log", { source: "stdout", data: e.data.data }]];
      case "output": return outputs(e.data);
      case "completed": return [["completed", e.data]];
      default: return [];
    }
  },
};

export class Streams {
  /** Open streams by prediction. */
  private readonly watchers = new Map<string, number>();
  /** Predictions to cancel when their last stream closes. */
  private readonly ownedByStreams = new Set<string>();

  constructor(private readonly backend: Backend) {}

  /** GET /predictions/{id}/events; false when there is no such prediction. */
  ours(reply: FastifyReply, id: string): Promise<boolean> {
    return this.open(OURS, reply, id);
  }

  /** The reply to POST / PUT /predictions with Accept: text/event-stream; `owned`: it created the prediction. */
  coglet(reply: FastifyReply, id: string, owned: boolean): Promise<boolean> {
    if (owned) this.ownedByStreams.add(id);
    return this.open(COGLET, reply, id);
  }

  private async open(vocabulary: Vocabulary, reply: FastifyReply, id: string): Promise<boolean> {
    const res = reply.raw;
    const write = ([event, data]: Event) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    let keepAlive: NodeJS.Timeout | undefined;
    let state: "opening" | "open" | "ended" = "opening";
    let completed = false;
    const stop = () => {
      if (state === "ended") return;
      const wasOpen = state === "open";
      state = "ended";
      clearInterval(keepAlive);
      watch?.stop();
      res.end();
      if (!wasOpen) return;
      const left = (this.watchers.get(id) ?? 1) - 1;
      if (left > 0) return void this.watchers.set(id, left);
      this.watchers.delete(id);
      if (this.ownedByStreams.delete(id) && !completed) this.backend.cancel(id).catch(() => {});
    };
    const deliver = (e: StreamEvent) => {
      vocabulary.live(e).forEach(write);
      if (e.event === "completed") {
        completed = true;
        stop();
      }
    };
    // Events that come before the stream's head is written wait for it.
    const early: StreamEvent[] = [];
    const watch = await this.backend.watch(id, (e) => (state === "opening" ? void early.push(e) : state === "open" && deliver(e)));
    if (!watch) {
      this.ownedByStreams.delete(id);
      return false;
    }
    reply.hijack();
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    res.once("close", stop);
    vocabulary.replay(watch.snapshot).forEach(write);
    if (isTerminal(watch.snapshot.status)) {
      this.ownedByStreams.delete(id);
      stop();
      return true;
    }
    state = "open";
    this.watchers.set(id, (this.watchers.get(id) ?? 0) + 1);
    for (const e of early.splice(0)) {
      deliver(e);
      if (completed) return true;
    }
    keepAlive = setInterval(() => res.write(": keep-alive\n\n"), KEEPALIVE_MS);
    return true;
  }
}

/** Whether a request asks for an event stream (coglet's test: one of its Accept types is text/event-stream). */
export const wantsEventStream = (req: FastifyRequest) =>
  (req.headers.accept ?? "").split(",").some((part) => part.trim().split(";")[0].trim() === "text/event-stream");
