// The inference worker: ONNX Runtime's run() blocks its thread for a whole network call, so pipelines run
// here and the caller's thread stays responsive. Cancellation is a shared flag, read between steps.
import { parentPort, workerData } from "node:worker_threads";
import { Kandinsky, RequestError } from "../pipelines/kandinsky.js";
import { CancelledError } from "../pipelines/progress.js";
import type { FromWorker, ToWorker, WorkerInit } from "./protocol.js";

const init = workerData as WorkerInit;
const port = parentPort!;
const send = (m: FromWorker) => port.postMessage(m);
let current = 0;
const engine = new Kandinsky(init.dirs, {
  ...init.options,
  onLoad: (component, phase, ms) => send({ type: "load", id: current, component, phase, ms }),
  onWarning: (message) => send({ type: "warning", id: current, message }),
});

/** An AbortSignal-like view of the shared cancel flag. */
function flagSignal(buf: SharedArrayBuffer): AbortSignal {
  const flag = new Int32Array(buf);
  return { get aborted() { return Atomics.load(flag, 0) === 1; } } as AbortSignal;
}

port.on("message", async (m: ToWorker) => {
  current = m.id;
  try {
    const result = await engine.generate(m.request, {
      signal: flagSignal(m.cancel),
      preview: m.preview,
      progress: (event) => send({ type: "progress", id: m.id, event }),
    });
    const transfer = result.images.map((im) => im.data.buffer as ArrayBuffer);
    port.postMessage({ type: "result", id: m.id, result } satisfies FromWorker, transfer);
  } catch (e) {
    const kind = e instanceof CancelledError ? "cancelled" : e instanceof RequestError ? "request" : "internal";
    send({ type: "error", id: m.id, message: (e as Error).message, kind, stack: (e as Error).stack });
  }
});
