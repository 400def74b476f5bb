// `kandinsky serve`: Cog's HTTP prediction API and a web page over one inference Engine.
import { readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { WorkerInit } from "../engine/protocol.js";
import { loadPage } from "./page.js";
import { buildApp, type SetupState } from "./routes.js";
import { Runner } from "./runner.js";
import { PredictionStore } from "./store.js";

export interface ServeOptions {
  host: string;
  port: number;
  token?: string;
  uploadUrl?: string;
  dataDir: string;
  queueSize: number;
  models: () => Promise<WorkerInit> /* resolves/downloads the models; called at startup */;
  /** Time limit of one prediction, model loading included; a run past it has its worker restarted. Default 3600. */
  predictTimeoutS?: number;
}

const DEFAULT_TIMEOUT_S = 3600;
const { version } = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };

/**
 * Listens at once (GET /health-check says STARTING) and calls `models()` in the background: READY when it
 * resolves, SETUP_FAILED with its error when it rejects. Records and outputs live under `dataDir`.
 */
export async function startServer(o: ServeOptions): Promise<{ url: string; close(): Promise<void> }> {
  if (!Number.isInteger(o.queueSize) || o.queueSize < 0) throw new Error(`queue size must be an integer >= 0, got ${o.queueSize}`);
  const timeoutS = o.predictTimeoutS ?? DEFAULT_TIMEOUT_S;
  if (!(timeoutS > 0)) throw new Error(`the prediction time limit must be > 0 seconds, got ${timeoutS}`);
  const store = new PredictionStore(o.dataDir);
  await store.open();
  const outputDir = join(o.dataDir, "outputs");
  await mkdir(outputDir, { recursive: true });
  const runner = new Runner(store, { queueSize: o.queueSize, timeoutMs: timeoutS * 1000, outputDir });
  const setup: SetupState = { status: "starting", started_at: new Date().toISOString(), completed_at: null, logs: "" };
  const app = buildApp({
    runner, store, setup, version, page: await loadPage(), token: o.token, uploadUrl: o.uploadUrl,
  });
  try {
    await app.listen({ host: o.host, port: o.port });
  } catch (e) {
    await app.close();
    const why = (e as NodeJS.ErrnoException).code === "EADDRINUSE" ? "the address is already in use" : (e as Error).message;
    throw new Error(`cannot listen on ${o.host}:${o.port}: ${why}`);
  }

  let closed = false;
  const setupDone = (status: SetupState["status"], log: string) => {
    setup.status = status;
    setup.completed_at = new Date().toISOString();
    setup.logs += `${log}\n`;
  };
  o.models().then(
    (init) => {
      if (closed) return;
      runner.setModels(init);
      setupDone("succeeded", "models ready");
    },
    (e: Error) => setupDone("failed", `loading the models failed: ${e.message}`),
  );

  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : o.port;
  const host = o.host === "0.0.0.0" || o.host === "::" ? "localhost" : o.host.includes(":") ? `[${o.host}]` : o.host;
  return {
    url: `http://${host}:${port}`,
    async close() {
      closed = true;
      await runner.close();
      await app.close();
    },
  };
}
