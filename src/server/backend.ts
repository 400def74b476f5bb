// What the HTTP routes run on: where predictions are kept and run. The local backend is one process with its
// inference worker and a data folder (local-backend.ts); the cluster's keeps records in Redis and runs them on
// workers through a BullMQ queue (src/cluster). Every API route works the same on either.
import type { ResolvedOutput, ResolvedRequest } from "../request/fields.js";
import type { StreamEvent } from "./job.js";
import type { WebhookEvent } from "./schema.js";
import type { Prediction } from "./store.js";

/** Loading the models (local), or the workers' setup (cluster). */
export interface SetupState {
  status: "starting" | "succeeded" | "failed";
  started_at: string;
  completed_at: string | null;
  logs: string;
}

/** A cluster worker as /health-check lists it. */
export interface WorkerReport {
  id: string;
  device: string;
  concurrency: number;
  busy: number;
  status: "starting" | "ready" | "failed";
  inpaint: boolean;
  started_at: string;
  setup_logs: string;
  /** The inference process's last warning of its own, e.g. that the device asked for is not available and cpu is used. */
  warning: string | null;
}

export interface Health {
  status: "STARTING" | "READY" | "BUSY" | "SETUP_FAILED" | "UNHEALTHY";
  setup: SetupState;
  /** Cluster only. */
  workers?: { count: number; busy: number; waiting: number; list: WorkerReport[] };
  /** Why the status is UNHEALTHY. */
  detail?: string;
}

export interface WebhookSpec {
  url: string;
  events: WebhookEvent[];
  /** The creating request's W3C trace context, sent with every delivery. */
  trace?: { traceparent?: string; tracestate?: string };
}

export interface Submission {
  /** The new prediction, status "starting". */
  prediction: Prediction;
  /** Its input, admitted (admit.ts): checked, decoded, its seed drawn. */
  request: ResolvedRequest;
  output: ResolvedOutput;
  webhook?: WebhookSpec;
  uploadTo?: string;
}

/** A prediction's event stream: its state when it was opened, then `fn` gets each event up to "completed". */
export interface Watch {
  snapshot: Prediction;
  stop(): void;
}

/** A new prediction is refused (409): the queue is full, or the server is stopping. */
export class QueueFullError extends Error {}

/** The backend itself cannot be reached (503): Redis is down. */
export class UnavailableError extends Error {}

export interface Backend {
  health(): Promise<Health>;
  /** Why a new prediction cannot be taken now (a 503), or undefined. */
  notReady(): Promise<string | undefined>;
  /** Whether task inpaint can run (its model is loaded). */
  canInpaint(): Promise<boolean>;
  /** The prediction as it is now. */
  get(id: string): Promise<Prediction | undefined>;
  /** Stores and queues a prediction. Throws QueueFullError. A prediction already under that id is returned instead. */
  submit(s: Submission): Promise<Prediction>;
  /** Cancels a queued prediction at once, a running one at its next step; the prediction after that. */
  cancel(id: string): Promise<Prediction | undefined>;
  /** Follows a prediction; `fn` is not called for one already terminal (its snapshot is). */
  watch(id: string, fn: (e: StreamEvent) => void): Promise<Watch | undefined>;
  /** The prediction once it is terminal. */
  done(id: string): Promise<Prediction | undefined>;
  /**
   * A graceful shutdown's first half (POST /shutdown): new predictions are refused, and this resolves when those
   * this process runs have ended. Absent where nothing runs in the process (a cluster's front).
   */
  drain?(): Promise<void>;
  close(): Promise<void>;
}
