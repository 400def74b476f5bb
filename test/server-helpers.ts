// Shared by the server tests: the tiny models, a started server, a JSON client, raw HTTP, a loopback receiver
// (webhooks, uploads, image downloads) and hostile images.
import { createServer, request, type IncomingMessage, type RequestListener } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { crc32, deflateSync } from "node:zlib";
import { Engine } from "../src/engine/engine.js";
import type { WorkerInit } from "../src/engine/protocol.js";
import { buildOptionsFor } from "../src/pipelines/components.js";
import { startServer, type ServeOptions } from "../src/server/index.js";
import { fixture } from "./fixtures.js";

const TINY = fixture("tiny-a");

export const tinyModels: WorkerInit = {
  dirs: { prior: join(TINY, "prior"), decoder: join(TINY, "decoder"), inpaint: join(TINY, "inpaint") },
  options: { provider: "cpu", build: buildOptionsFor("cpu"), keepLoaded: true },
};

/** A fast input for the tiny models. */
export const small = { prompt: "a red cat", width: 128, height: 128, num_inference_steps: 2, num_steps_prior: 2 };

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export type Server = Awaited<ReturnType<typeof startServer>>;

/** A createEngine for serve() that keeps every Engine it makes, so that a test can make one crash or hang. */
export function recordEngines(): { engines: Engine[]; createEngine: NonNullable<ServeOptions["createEngine"]> } {
  const engines: Engine[] = [];
  return {
    engines,
    createEngine: (init, events) => {
      const engine = new Engine(init, events);
      engines.push(engine);
      return engine;
    },
  };
}

/** Starts a server on a free loopback port and waits until it is READY. */
export async function serve(opts: Partial<ServeOptions> & { dataDir: string }): Promise<Server> {
  const server = await startServer({ host: "127.0.0.1", port: 0, queueSize: 1, models: async () => tinyModels, ...opts });
  await waitFor("READY", async () => {
    const h = (await (await fetch(`${server.url}/health-check`)).json()) as { status: string };
    return h.status === "READY" || undefined;
  });
  return server;
}

export interface Reply {
  status: number;
  body: any; // JSON under test
}

export function client(base: string, token?: string) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> => {
    const res = await fetch(base + path, {
      method,
      headers: {
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text && res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text };
  };
}

export interface Received {
  method: string;
  url: string;
  type?: string;
  body: Buffer;
}

/** A request exactly as written: the path is sent as is (percent-encoded, absolute-form), not normalised as fetch would. */
export function rawRequest(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path, headers: body === undefined ? headers : { "content-type": "application/json", ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode!, body: res.headers["content-type"]?.includes("json") ? JSON.parse(text) : text });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * A valid 1-bit grey PNG of width x height, all black: a few KB that declare (and would decode to) a huge
 * image, as a decompression bomb does.
 */
export function pngBomb(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const typed = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const out = Buffer.alloc(typed.length + 8);
    out.writeUInt32BE(data.length, 0);
    typed.copy(out, 4);
    out.writeUInt32BE(crc32(typed), typed.length + 4);
    return out;
  };
  const header = Buffer.alloc(13); // bit depth 1, colour type 0 (grey), deflate, no filter, no interlace
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 1;
  const rows = Buffer.alloc((1 + Math.ceil(width / 8)) * height); // each row: filter type 0, then zero bits
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header), chunk("IDAT", deflateSync(rows, { level: 9 })), chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** A loopback HTTP server answering with `handler`; close() also ends the connections it holds open. */
export async function loopback(handler: RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    }),
  };
}

/**
 * A loopback HTTP server that records every request, serves `files` on GET and answers `redirects` with a 302;
 * the requests it records are answered with `statuses` in turn, then 200.
 */
export async function receiver(files: Record<string, Buffer> = {}, redirects: Record<string, string> = {}, statuses: number[] = []) {
  const requests: Received[] = [];
  const read = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };
  const server = await loopback(async (req, res) => {
    const body = await read(req);
    if (req.method === "GET" && redirects[req.url ?? ""]) {
      res.writeHead(302, { location: redirects[req.url!] }).end();
      return;
    }
    if (req.method === "GET") {
      const file = files[req.url ?? ""];
      res.writeHead(file ? 200 : 404).end(file);
      return;
    }
    requests.push({ method: req.method!, url: req.url!, type: req.headers["content-type"], body });
    res.writeHead(statuses.shift() ?? 200).end();
  });
  return { ...server, requests };
}
