// The defaults of `kandinsky serve`'s limits, in one place for the server, its command line and its --help.
// (Kept free of imports: the CLI reads them without loading the HTTP stack.)
export const LIMIT_DEFAULTS = {
  /** Time limit of one prediction in seconds, model loading included (--predict-timeout). */
  predictTimeoutS: 3600,
  /**
   * Seconds a prediction past its time limit may take to reach its next step before its worker is killed
   * (--stop-grace). A step of the tiny models takes milliseconds, a full-size CPU step several seconds; a killed
   * worker costs a model reload, a hung one would hold the queue.
   */
  stopGraceS: 5,
  /** Seconds a client has to send a whole request, headers and body (--request-timeout). */
  requestTimeoutS: 60,
  /** Largest image input in pixels, checked from the header before decoding (--max-input-pixels): 4096x4096. */
  maxInputPixels: 4096 * 4096,
  // Request fields' maxima below the library's (src/request/fields.ts says which fields each one governs); the
  // defaults are the Replicate model's ranges.
  /** Largest width and height (--max-size). */
  maxSize: 1024,
  /** Most images per prediction (--max-outputs). */
  maxOutputs: 4,
  /** Most decoder and prior steps (--max-steps). */
  maxSteps: 500,
};

/** The defaults of a cluster's settings (`serve --redis`, `worker`). */
export const CLUSTER_DEFAULTS = {
  queueName: "kandinsky",
  /** How many times a prediction may be started when the workers running it die (--max-attempts). */
  maxAttempts: 2,
  /** Seconds a finished prediction's record and outputs stay in Redis (--result-ttl): a day. */
  resultTtlS: 86400,
  /** Seconds without a heartbeat after which a worker is presumed dead and its predictions run elsewhere (--stall-timeout). */
  stallTimeoutS: 30,
};
