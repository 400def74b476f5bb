// The inference process. ONNX Runtime's run() blocks its thread for a whole network call, so pipelines run
// here and the caller stays responsive. It is a child process rather than a worker thread: a thread cannot
// be stopped safely inside ORT's native code (terminating one mid-run can abort the whole process), while a
// process can be killed at any time, and a native crash here cannot take the caller down.
import { Kandinsky, RequestError } from "../pipelines/kandinsky.js";
import { CancelledError } from "../pipelines/progress.js";
import type { FromWorker, ToWorker } from "./protocol.js";

const send = (m: FromWorker) => process.send!(m);
let engine: Kandinsky | undefined;
let current = 0;
/** Jobs asked to stop; read between steps (IPC messages are handled between two network calls). */
const cancelled = new Set<number>();

async function run(m: Extract<ToWorker, { type: "run" }>) {
  current = m.id;
  const signal = { get aborted() { return cancelled.has(m.id); } } as AbortSignal;
  try {
    const result = await engine!.generate(m.request, {
      signal, preview: m.preview,
      progress: (event) => send({ type: "progress", id: m.id, event }),
    });
    send({ type: "result", id: m.id, result });
  } catch (e) {
    const kind = e instanceof CancelledError ? "cancelled" : e instanceof RequestError ? "request" : "internal";
    send({ type: "error", id: m.id, message: (e as Error).message, kind, stack: (e as Error).stack });
  } finally {
    cancelled.delete(m.id);
  }
}

process.on("message", (m: ToWorker) => {
  if (m.type === "init") {
    engine = new Kandinsky(m.init.dirs, {
      ...m.init.options,
      onLoad: (component, phase, ms) => send({ type: "load", id: current, component, phase, ms }),
      onWarning: (message) => send({ type: "warning", id: current, message }),
    });
  } else if (m.type === "cancel") {
    cancelled.add(m.id);
  } else {
    void run(m);
  }
});
// The parent going away ends this process.
process.on("disconnect", () => process.exit(0));
