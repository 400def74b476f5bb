// The inference process. ONNX Runtime's run() blocks its thread for a whole network call, so pipelines run
// here and the caller stays responsive. It is a child process rather than a worker thread: a thread cannot
// be stopped safely inside ORT's native code (terminating one mid-run can abort the whole process), while a
// process can be killed at any time, and a native crash here cannot take the caller down.
import { Kandinsky, RequestError } from "../pipelines/kandinsky.js";
import { CancelledError } from "../pipelines/progress.js";
import type { FromWorker, ToWorker } from "./protocol.js";

const send = (m: FromWorker) => process.send!(m);
let engine: Kandinsky | undefined;
/** The provider check, made once as the process starts; jobs wait for it. */
let ready: Promise<unknown> = Promise.resolve();
/** The job running, whose id tags what the pipelines report; none during the provider check. */
let current: number | undefined;
/** A job's cancel aborts its signal, which the pipelines read between steps (IPC is handled between two network calls). */
const jobs = new Map<number, AbortController>();

async function run(m: Extract<ToWorker, { type: "run" }>) {
  const abort = new AbortController();
  jobs.set(m.id, abort);
  try {
    await ready;
    current = m.id;
    const result = await engine!.generate(m.request, {
      signal: abort.signal, preview: m.preview,
      progress: (event) => send({ type: "progress", id: m.id, event }),
    });
    send({ type: "result", id: m.id, result });
  } catch (e) {
    const kind = e instanceof CancelledError ? "cancelled" : e instanceof RequestError ? "request" : "internal";
    send({ type: "error", id: m.id, message: (e as Error).message, kind, stack: (e as Error).stack });
  } finally {
    jobs.delete(m.id);
    current = undefined;
  }
}

process.on("message", (m: ToWorker) => {
  if (m.type === "init") {
    engine = new Kandinsky(m.init.dirs, {
      ...m.init.options,
      onLoad: (component, phase, ms) => send({ type: "load", id: current!, component, phase, ms }),
      onWarning: (message) => send({ type: "warning", id: current, message }),
    });
    // A failed check is the first job's to report (it meets the same error).
    ready = engine.components.resolveTarget().catch(() => {});
  } else if (m.type === "cancel") {
    jobs.get(m.id)?.abort();
  } else {
    void run(m);
  }
});
// The parent going away ends this process.
process.on("disconnect", () => process.exit(0));
