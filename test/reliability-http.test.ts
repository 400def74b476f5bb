// The hostile-client half of the reliability campaign, on loopback: auth bypasses, dropped webhooks, slow bodies,
// decompression bombs, long ids and server-side request forgery. Each test reproduces a fault the campaign found.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import sharp from "sharp";
import { LocalBackend } from "../src/server/local-backend.js";
import { buildApp } from "../src/server/routes.js";
import { ID_MAX_LENGTH } from "../src/server/schema.js";
import { isLoopbackHost, isPrivateAddress, UrlPolicy } from "../src/server/url-policy.js";
import { WebhookSender } from "../src/server/webhooks.js";
import { client, pngBomb, rawRequest, receiver, serve, small, waitFor, type Server } from "./server-helpers.js";

const TOKEN = "s3cret";
const auth = { authorization: `Bearer ${TOKEN}` };
const openPolicy = new UrlPolicy({ denyPrivate: false, allowHosts: [] });
const asDataUrl = (b: Buffer) => `data:image/png;base64,${b.toString("base64")}`;

let dataDir: string;
let server: Server;
let api: ReturnType<typeof client>;
let rx: Awaited<ReturnType<typeof receiver>>;
let png: Buffer;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "kandinsky-reliability-"));
  png = await sharp({ create: { width: 96, height: 80, channels: 3, background: "#3060a0" } }).png().toBuffer();
  rx = await receiver({ "/in.png": png });
  server = await serve({ dataDir: join(dataDir, "main"), token: TOKEN });
  api = client(server.url, TOKEN);
});

after(async () => {
  await server.close();
  await rx.close();
  await rm(dataDir, { recursive: true, force: true });
});

test("auth is decided on the route that matched: encoded and absolute-form paths need the token too", async () => {
  const done = await api("PUT", "/predictions/secret-1", { input: small });
  assert.equal(done.body.status, "succeeded", done.body.error);
  const origin = server.url;
  const body = JSON.stringify({ input: small });
  const bypasses: [string, string, string?][] = [
    ["GET", "/%70redictions/secret-1"],
    ["GET", `${origin}/predictions/secret-1`],
    ["GET", "/predictions/secret-%31"],
    ["GET", "/%70redictions/secret-1/events"],
    ["GET", "/predictions/secret-1/%65vents"],
    ["POST", "/%70redictions/secret-1/cancel"],
    ["POST", `${origin}/predictions/secret-1/cancel`],
    ["POST", "/%70redictions", body],
    ["POST", `${origin}/predictions`, body],
    ["PUT", "/%70redictions/other", body],
    ["GET", "/predictions/secret-1?x=/health-check"],
  ];
  for (const [method, path, data] of bypasses) {
    const r = await rawRequest(origin, method, path, {}, data);
    assert.equal(r.status, 401, `${method} ${path}: ${JSON.stringify(r.body).slice(0, 200)}`);
    assert.match(r.body.detail, /bearer token/);
  }
  // The same spellings with the token reach the prediction: they are the route, not a 404.
  assert.equal((await rawRequest(origin, "GET", "/%70redictions/secret-1", auth)).body.id, "secret-1");
  assert.equal((await rawRequest(origin, "GET", `${origin}/predictions/secret-1`, auth)).body.id, "secret-1");

  // Every documented route: closed without the token, but for the few that are open on purpose.
  const open = new Set(["GET /", "GET /health-check"]);
  const openapi = (await api("GET", "/openapi.json")).body as { paths: Record<string, Record<string, unknown>> };
  let closed = 0;
  for (const [path, methods] of Object.entries(openapi.paths)) {
    for (const method of Object.keys(methods).map((m) => m.toUpperCase())) {
      const r = await rawRequest(origin, method, path.replace("{prediction_id}", "secret-1").replace("{name}", "secret-1-0.png"), {}, method === "GET" ? undefined : body);
      if (open.has(`${method} ${path}`)) assert.equal(r.status, 200, `${method} ${path}`);
      else (closed++, assert.equal(r.status, 401, `${method} ${path}`));
    }
  }
  assert.equal(closed, 7);
  for (const path of ["/openapi.json", "/static/app.js", "/health-check"]) assert.equal((await rawRequest(origin, "GET", path)).status, 200, path);
  assert.equal((await rawRequest(origin, "GET", "/no-such-route")).status, 401, "an unknown path reveals nothing without the token");
});

test("a route added to the app later needs the token unless it says it is public", async () => {
  const backend = await LocalBackend.open({
    dataDir: join(dataDir, "inherit"), queueSize: 0, timeoutMs: 1000, stopGraceMs: 1000, urlPolicy: openPolicy, models: () => new Promise(() => {}),
  });
  const app = buildApp({ backend, version: "test", page: new Map(), token: TOKEN, requestTimeoutMs: 1000, maxInputPixels: 1, urlPolicy: openPolicy, limits: {} });
  app.get("/later/models", () => ({ data: [] }));
  app.post("/later/txt2img", () => ({ images: [] }));
  app.get("/later/status", { config: { public: true } }, () => ({ ok: true }));
  try {
    assert.equal((await app.inject({ method: "GET", url: "/later/models" })).statusCode, 401);
    assert.equal((await app.inject({ method: "POST", url: "/later/%74xt2img", payload: {} })).statusCode, 401);
    assert.equal((await app.inject({ method: "GET", url: "/later/models", headers: auth })).statusCode, 200);
    assert.equal((await app.inject({ method: "GET", url: "/later/status" })).statusCode, 200);
  } finally {
    await app.close();
    await backend.close();
  }
});

test("webhooks: output is never throttled away; logs are throttled on their own clock, the latest sent last", async () => {
  const hooks = await receiver();
  try {
    const sender = new WebhookSender(`${hooks.url}/hook`, new Set(["start", "output", "logs", "completed"]), openPolicy);
    const state = { n: 0 };
    const body = () => JSON.stringify({ n: state.n });
    sender.send("start", body);
    for (const event of ["logs", "logs", "output", "logs", "completed"] as const) {
      state.n++;
      sender.send(event, body);
    }
    await sender.flushed();
    assert.deepEqual(hooks.requests.map((r) => JSON.parse(r.body.toString()).n), [0, 1, 3, 5], "start, the first logs, output, completed");

    hooks.requests.length = 0;
    const later = new WebhookSender(`${hooks.url}/hook`, new Set(["logs"]), openPolicy);
    for (state.n = 10; state.n < 14; state.n++) later.send("logs", body);
    state.n = 20;
    await waitFor("the throttled logs", () => hooks.requests.length >= 2 || undefined, 5000);
    assert.deepEqual(hooks.requests.map((r) => JSON.parse(r.body.toString()).n), [10, 20], "the first at once, the latest when the window closes");

    // Through the server, with the default filter: the output delivery arrives between start and completed.
    hooks.requests.length = 0;
    const r = await api("POST", "/predictions", { input: { ...small, num_inference_steps: 8 }, webhook: `${hooks.url}/hook` }, { prefer: "respond-async" });
    assert.equal(r.status, 202);
    const sent = () => hooks.requests.map((q) => JSON.parse(q.body.toString()));
    await waitFor("the completed webhook", () => sent().some((h) => h.status === "succeeded") || undefined);
    const outputs = sent().filter((h) => h.status === "processing" && h.output?.length === 1);
    assert.equal(outputs.length, 1, `one output delivery, got statuses ${sent().map((h) => h.status)}`);
  } finally {
    await hooks.close();
  }
});

test("slow clients: 20 bodies trickling one byte at a time, and slow headers, get 408 JSON at the request timeout", async () => {
  const slow = await serve({ dataDir: join(dataDir, "slow"), requestTimeoutS: 1 });
  const { port } = new URL(slow.url);
  const trickle = (head: string, rest: string) => new Promise<{ reply: string; closed: boolean }>((resolve) => {
    let reply = "";
    const socket = connect(Number(port), "127.0.0.1", () => socket.write(head));
    let i = 0;
    const timer = setInterval(() => socket.writable && i < rest.length && socket.write(rest[i++]), 200);
    socket.on("data", (d) => (reply += d.toString()));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearInterval(timer);
      resolve({ reply, closed: true });
    });
    // The test's own bound: a connection still open after this has not been timed out by the server.
    setTimeout(() => {
      clearInterval(timer);
      socket.destroy();
      resolve({ reply, closed: false });
    }, 8000).unref();
  });
  try {
    const bodies = Array.from({ length: 20 }, () => trickle(
      "POST /predictions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{", " ".repeat(999)));
    const headers = trickle("GET /health-check HTTP/1.1\r\n", "host: x\r\nx-slow: ".padEnd(999, "a"));
    const results = await Promise.all([...bodies, headers]);
    for (const { reply, closed } of results) {
      assert.ok(closed, `the server kept the connection open; it answered ${JSON.stringify(reply)}`);
      assert.match(reply, /^HTTP\/1\.1 408 /);
      assert.match(JSON.parse(reply.slice(reply.indexOf("\r\n\r\n") + 4)).detail, /did not arrive within 1 s/);
    }
    // The limit is on receiving the request: a synchronous prediction may take longer to answer. This one
    // waits behind another for twice the limit.
    const call = client(slow.url);
    await call("POST", "/predictions", { id: "blocker", input: { ...small, num_inference_steps: 500 } }, { prefer: "respond-async" });
    const sync = call("POST", "/predictions", { input: small });
    await new Promise((r) => setTimeout(r, 2000));
    await call("POST", "/predictions/blocker/cancel");
    assert.equal((await sync).body.status, "succeeded", (await sync).body.error);
  } finally {
    await slow.close();
  }
});

test("decompression bombs: image, mask and mix images are refused from their header, naming the limit", async () => {
  const limited = await serve({ dataDir: join(dataDir, "bombs"), maxInputPixels: 64 * 64 });
  try {
    const r = await client(limited.url)("POST", "/predictions", { input: { ...small, task: "img2img", image: asDataUrl(png) } });
    assert.equal(r.status, 422, JSON.stringify(r.body).slice(0, 300));
    assert.deepEqual(r.body.detail[0].loc, ["body", "input", "image"]);
    assert.equal(r.body.detail[0].msg, "input.image is 96x80 (7680 pixels), more than the limit of 4096 pixels (--max-input-pixels)");
    const fits = await sharp({ create: { width: 64, height: 64, channels: 3, background: "#808080" } }).png().toBuffer();
    const ok = await client(limited.url)("POST", "/predictions", { input: { ...small, task: "img2img", image: asDataUrl(fits) } });
    assert.equal(ok.body.status, "succeeded", ok.body.error);
  } finally {
    await limited.close();
  }

  const bomb = asDataUrl(pngBomb(16000, 16000));
  assert.ok(bomb.length < 64 * 1024, `${bomb.length} bytes`);
  const cases: [object, (string | number)[]][] = [
    [{ task: "img2img", image: bomb }, ["body", "input", "image"]],
    [{ task: "inpaint", image: asDataUrl(png), mask: bomb }, ["body", "input", "mask"]],
    [{ task: "mix", prompt: undefined, mix_texts: ["a"], mix_images: [asDataUrl(png), bomb] }, ["body", "input", "mix_images", 1]],
  ];
  const rss = process.memoryUsage().rss;
  for (const [input, loc] of cases) {
    const r = await api("POST", "/predictions", { input: { ...small, ...input } });
    assert.equal(r.status, 422, JSON.stringify(r.body).slice(0, 300));
    assert.deepEqual(r.body.detail[0].loc, loc);
    assert.match(r.body.detail[0].msg, /is 16000x16000 \(256000000 pixels\), more than the limit of 16777216 pixels \(--max-input-pixels\)$/);
  }
  assert.ok(process.memoryUsage().rss - rss < 200 * 2 ** 20, "nothing was decoded");
});

test("ids up to the schema's limit work in every path; longer ones get 414 JSON", async () => {
  const id = "i".repeat(ID_MAX_LENGTH);
  const put = await api("PUT", `/predictions/${id}`, { input: small });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  assert.equal(put.body.status, "succeeded");
  assert.equal((await api("GET", `/predictions/${id}`)).body.id, id);
  assert.equal((await api("POST", `/predictions/${id}/cancel`)).status, 404, "a finished prediction is not in flight");
  const events = await fetch(`${server.url}/predictions/${id}/events`, { headers: auth });
  assert.equal(events.status, 200);
  assert.match(await events.text(), /^event: completed\n/);

  const tooLong = `${id}i`;
  for (const [method, path] of [["GET", `/predictions/${tooLong}`], ["PUT", `/predictions/${tooLong}`], ["GET", `/predictions/${tooLong}/events`]]) {
    const r = await api(method, path, method === "PUT" ? { input: small } : undefined);
    assert.equal(r.status, 414, `${method}: ${JSON.stringify(r.body)}`);
    assert.match(r.body.detail, new RegExp(`longer than ${ID_MAX_LENGTH} characters`));
  }
  const inBody = await api("POST", "/predictions", { id: tooLong, input: small });
  assert.equal(inBody.status, 422);
  assert.deepEqual(inBody.body.detail[0].loc, ["body", "id"]);
});

test("private addresses: what counts, and the default follows whether the server listens on loopback", () => {
  for (const a of ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1",
    "::1", "::", "fd00::1", "fe80::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1", "64:ff9b::a9fe:a9fe", "2002:a00::1"]) {
    assert.ok(isPrivateAddress(a), a);
  }
  for (const a of ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]) assert.ok(!isPrivateAddress(a), a);
  for (const h of ["127.0.0.1", "127.0.0.2", "localhost", "::1"]) assert.ok(isLoopbackHost(h), h);
  for (const h of ["0.0.0.0", "::", "192.168.1.5", "example.com"]) assert.ok(!isLoopbackHost(h), h);
});

test("SSRF guard: with --deny-private-urls, request URLs reaching private addresses are refused, after DNS and on redirects", async () => {
  const files = await receiver({ "/in.png": png }, {});
  const rxPort = new URL(files.url).port;
  const localhostUrl = `http://localhost:${rxPort}/in.png`;
  // An allowed host that redirects to a name resolving to a denied address.
  const redirecting = await receiver({}, { "/moved.png": localhostUrl, "/fine.png": `http://127.0.0.1:${rxPort}/in.png` });
  const guarded = await serve({ dataDir: join(dataDir, "ssrf"), denyPrivateUrls: true, allowUrlHosts: ["127.0.0.1"] });
  const call = client(guarded.url);
  const img2img = (image: string, extra: object = {}) => call("POST", "/predictions", { input: { ...small, task: "img2img", image }, ...extra });
  try {
    const refused = await img2img(localhostUrl);
    assert.equal(refused.status, 422);
    assert.deepEqual(refused.body.detail[0].loc, ["body", "input", "image"]);
    assert.match(refused.body.detail[0].msg, new RegExp(`^input\\.image is not fetched: localhost:${rxPort} is (127\\.0\\.0\\.1|::1), a private, loopback .*--deny-private-urls`));
    assert.match((await img2img(`http://[::1]:${rxPort}/in.png`)).body.detail[0].msg, /\[::1\].* is a private, loopback/);

    const allowed = await img2img(`${files.url}/in.png`);
    assert.equal(allowed.body.status, "succeeded", allowed.body.error);
    const viaRedirect = await img2img(`${redirecting.url}/fine.png`);
    assert.equal(viaRedirect.body.status, "succeeded", viaRedirect.body.error);
    const redirected = await img2img(`${redirecting.url}/moved.png`);
    assert.equal(redirected.status, 422);
    assert.match(redirected.body.detail[0].msg, /localhost.* is (127\.0\.0\.1|::1), a private, loopback/);

    const hook = await call("POST", "/predictions", { input: small, webhook: `http://localhost:${rxPort}/hook` });
    assert.equal(hook.status, 422);
    assert.deepEqual(hook.body.detail[0].loc, ["body", "webhook"]);
    const upload = await call("POST", "/predictions", { input: small, output_file_prefix: `http://localhost:${rxPort}/up` });
    assert.deepEqual(upload.body.detail[0].loc, ["body", "output_file_prefix"]);
    assert.equal(files.requests.length, 0, "nothing was sent to a denied address");
  } finally {
    await guarded.close();
    await redirecting.close();
    await files.close();
  }
});
