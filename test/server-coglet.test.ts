// The behaviours of the newest Cog server (coglet, Cog 0.22) that `kandinsky serve` follows, over the tiny models.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import sharp from "sharp";
import { UrlPolicy } from "../src/server/url-policy.js";
import { DELIVERY, WebhookSender } from "../src/server/webhooks.js";
import { client, loopback, receiver, serve, small, waitFor, type Server } from "./server-helpers.js";

let dataDir: string;
let server: Server;
let api: ReturnType<typeof client>;
const asDataUrl = (b: Buffer) => `data:image/png;base64,${b.toString("base64")}`;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "kandinsky-coglet-"));
  server = await serve({ dataDir: join(dataDir, "main"), queueSize: 2 });
  api = client(server.url);
});

after(async () => {
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** The events of a text/event-stream body, keep-alive comments left out. */
const parseEvents = (text: string) => [...text.matchAll(/event: (\w+)\ndata: (.*)\n\n/g)].map((m) => ({ event: m[1], data: JSON.parse(m[2]) }));

test("unknown input fields are removed with a warning in the logs; context and Replicate's text_guided_img2img are accepted", async () => {
  const r = await api("POST", "/predictions", { input: { ...small, widht: 512, lora: "x" }, context: { user: "u1" } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.status, "succeeded", r.body.error);
  assert.match(r.body.logs, /^warning: removed unknown input fields widht, lora\nUsing seed: /);
  assert.equal(r.body.input.widht, undefined);
  // Wrong values are still refused.
  const wrong = await api("POST", "/predictions", { input: { ...small, width: "512" } });
  assert.equal(wrong.status, 422);
  assert.deepEqual(wrong.body.detail[0].loc, ["body", "input", "width"]);
  assert.equal((await api("POST", "/predictions", { input: small, context: { n: 1 } })).status, 422, "context values are strings");

  const image = await sharp({ create: { width: 64, height: 64, channels: 3, background: "#804020" } }).png().toBuffer();
  const img2img = await api("POST", "/predictions", { input: { ...small, task: "text_guided_img2img", image: asDataUrl(image), strength: 0.5 } });
  assert.equal(img2img.body.status, "succeeded", img2img.body.error);
  assert.equal(img2img.body.input.task, "img2img");
});

test("Accept: text/event-stream on POST streams coglet's events: start, metric, log, output, completed", async () => {
  const res = await fetch(`${server.url}/predictions`, {
    method: "POST", headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({ id: "sse-1", input: { ...small, seed: 5, num_outputs: 2 } }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  const events = parseEvents(await res.text());
  const names = events.map((e) => e.event);
  assert.deepEqual(names.slice(0, 2), ["start", "metric"]);
  assert.deepEqual(events[0].data, { id: "sse-1", status: "processing" });
  assert.deepEqual(events[1].data, { name: "seed", value: 5, mode: "replace" });
  assert.ok(events.some((e) => e.event === "log" && e.data.source === "stdout" && /Using seed: 5/.test(e.data.data)));
  const outputs = events.filter((e) => e.event === "output");
  assert.deepEqual(outputs.map((e) => e.data.index), [0, 1]);
  assert.match(outputs[0].data.chunk, /^data:image\/png;base64,/);
  assert.equal(names.at(-1), "completed");
  assert.equal(events.at(-1)!.data.status, "succeeded");
  assert.deepEqual(events.at(-1)!.data.output, outputs.map((e) => e.data.chunk));

  // PUT with the same id on a finished prediction replays it.
  const again = await fetch(`${server.url}/predictions/sse-1`, {
    method: "PUT", headers: { "content-type": "application/json", accept: "text/event-stream" }, body: JSON.stringify({ input: small }),
  });
  assert.deepEqual(parseEvents(await again.text()).map((e) => e.event), ["start", "metric", "log", "output", "output", "completed"]);
});

test("an event-stream prediction is cancelled when its last stream closes; a synchronous one when its client disconnects", async () => {
  const long = { ...small, num_inference_steps: 500 };
  const stream = new AbortController();
  const res = await fetch(`${server.url}/predictions`, {
    method: "POST", headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({ id: "sse-gone", input: long }), signal: stream.signal,
  });
  const reader = res.body!.getReader();
  let text = "";
  while (!/event: log/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
  // A second watcher (our own event stream) keeps it alive while the first leaves.
  const watcher = new AbortController();
  const ours = await fetch(`${server.url}/predictions/sse-gone/events`, { signal: watcher.signal });
  await ours.body!.getReader().read();
  stream.abort();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await api("GET", "/predictions/sse-gone")).body.status, "processing");
  watcher.abort();
  const canceled = await waitFor("the stream's prediction to be cancelled", async () => {
    const p = (await api("GET", "/predictions/sse-gone")).body;
    return p.status === "canceled" ? p : undefined;
  });
  assert.doesNotMatch(canceled.logs, /decoder 500\/500/);

  const sync = new AbortController();
  const call = fetch(`${server.url}/predictions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id: "sync-gone", input: long }), signal: sync.signal });
  call.catch(() => {});
  await waitFor("the synchronous prediction to run", async () => ((await api("GET", "/predictions/sync-gone")).body.logs ?? "").includes("decoder 1/") || undefined);
  sync.abort();
  await waitFor("the synchronous prediction to be cancelled", async () => (await api("GET", "/predictions/sync-gone")).body.status === "canceled" || undefined);
  // An asynchronous prediction outlives its request, as before.
  const kept = await api("POST", "/predictions", { id: "async-kept", input: small }, { prefer: "respond-async" });
  assert.equal(kept.status, 202);
  assert.equal((await waitFor("it to finish", async () => {
    const p = (await api("GET", "/predictions/async-kept")).body;
    return p.status !== "starting" && p.status !== "processing" ? p : undefined;
  })).status, "succeeded");
});

test("webhooks: WEBHOOK_AUTH_TOKEN as a bearer token, the trace context forwarded, the terminal one retried on 503", async () => {
  let failures = 2;
  const seen: { status?: string; auth?: string; traceparent?: string; tracestate?: string }[] = [];
  const hooks = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const p = JSON.parse(body) as { status: string };
      seen.push({ status: p.status, auth: req.headers.authorization, traceparent: req.headers.traceparent as string, tracestate: req.headers.tracestate as string });
      const fail = p.status === "succeeded" && failures-- > 0;
      res.writeHead(fail ? 503 : 200).end();
    });
  });
  await new Promise<void>((r) => hooks.listen(0, "127.0.0.1", r));
  process.env.WEBHOOK_AUTH_TOKEN = "hook-secret";
  try {
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const r = await api("POST", "/predictions", { input: small, webhook: `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hook` },
      { prefer: "respond-async", traceparent, tracestate: "vendor=1" });
    assert.equal(r.status, 202);
    await waitFor("the completed webhook to get through", () => seen.filter((s) => s.status === "succeeded").length === 3 || undefined);
    assert.ok(seen.every((s) => s.auth === "Bearer hook-secret" && s.traceparent === traceparent && s.tracestate === "vendor=1"), JSON.stringify(seen));
  } finally {
    delete process.env.WEBHOOK_AUTH_TOKEN;
    await new Promise((r) => hooks.close(r));
  }
});

test("the terminal webhook follows coglet's schedule; a dropped connection is retried as a refused one is", async () => {
  assert.deepEqual(DELIVERY, { attempts: 13, firstDelayMs: 200, maxDelayMs: 102_400, timeoutMs: 30_000 }, "12 retries, 100 ms·2^n capped at 2^10, 30 s each");
  let count = 0;
  const dropping = await loopback((req) => {
    count++;
    req.socket.destroy();
  });
  try {
    const sender = new WebhookSender(`${dropping.url}/hook`, new Set(["completed"]), new UrlPolicy({ denyPrivate: false, allowHosts: [] }),
      { ...DELIVERY, firstDelayMs: 1, maxDelayMs: 2 });
    sender.send("completed", () => "{}");
    await sender.flushed();
    assert.equal(count, DELIVERY.attempts);
  } finally {
    await dropping.close();
  }
});

test("POST /shutdown: GET / names it; queued and running predictions finish, new ones are refused, then the server stops", async () => {
  const own = await serve({ dataDir: join(dataDir, "shutdown"), queueSize: 2 });
  const call = client(own.url);
  assert.equal((await call("GET", "/")).body.shutdown_url, "/shutdown");
  const hooks = await receiver();
  try {
    await call("POST", "/predictions", { id: "running", input: { ...small, num_inference_steps: 30 }, webhook: `${hooks.url}/hook` }, { prefer: "respond-async" });
    await call("POST", "/predictions", { id: "queued", input: small, webhook: `${hooks.url}/hook` }, { prefer: "respond-async" });
    assert.deepEqual((await call("POST", "/shutdown")).body, {});
    const refused = await call("POST", "/predictions", { input: small });
    assert.equal(refused.status, 409);
    assert.deepEqual(refused.body, { error: "the server is shutting down", status: "failed" });
    await own.stopped;
    const completed = hooks.requests.map((q) => JSON.parse(q.body.toString())).filter((p) => p.completed_at);
    assert.deepEqual(completed.map((p) => [p.id, p.status]).sort(), [["queued", "succeeded"], ["running", "succeeded"]]);
    await assert.rejects(fetch(`${own.url}/health-check`), "the server no longer listens");
  } finally {
    await hooks.close();
    await own.close();
  }
});
