// The webhook sender on loopback receivers: the events filter, the logs throttle, retries of the terminal
// delivery and giving up (an error status, a refused connection, a receiver that never answers).
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { WEBHOOK_EVENTS, type WebhookEvent } from "../src/server/schema.js";
import { UrlPolicy } from "../src/server/url-policy.js";
import { THROTTLE_MS, WebhookSender, type Delivery } from "../src/server/webhooks.js";
import { client, loopback, receiver, serve, small, waitFor } from "./server-helpers.js";

const openPolicy = new UrlPolicy({ denyPrivate: false, allowHosts: [] });
/** The default schedule, shortened: the same code path in milliseconds. */
const FAST: Delivery = { attempts: 4, firstDelayMs: 5, maxDelayMs: 20, timeoutMs: 2000 };
const ALL = new Set<WebhookEvent>(WEBHOOK_EVENTS);

/** Sends each event with the body {"n": i}, i its place in `events`. */
function sendAll(sender: WebhookSender, events: readonly WebhookEvent[]): void {
  events.forEach((event, n) => sender.send(event, () => JSON.stringify({ n })));
}

const numbers = (rx: Awaited<ReturnType<typeof receiver>>) => rx.requests.map((r) => (JSON.parse(r.body.toString()) as { n: number }).n);
/** console.warn's lines during the test. */
const warnings = (t: TestContext) => {
  const warn = t.mock.method(console, "warn", () => {});
  return () => warn.mock.calls.map((c) => String(c.arguments[0]));
};

test("the filter: only the events it names are sent", async () => {
  const rx = await receiver();
  try {
    const events = ["start", "output", "logs", "completed"] as const;
    for (const filter of [["start", "completed"], ["output"], []] as WebhookEvent[][]) {
      rx.requests.length = 0;
      const sender = new WebhookSender(`${rx.url}/hook`, new Set(filter), openPolicy, FAST);
      sendAll(sender, events);
      await sender.flushed();
      assert.deepEqual(numbers(rx), filter.map((e) => events.indexOf(e as never)), `filter [${filter}]`);
    }
  } finally {
    await rx.close();
  }
});

test("a logs delivery waiting for the throttle window is dropped by completed: nothing follows completed", async () => {
  const rx = await receiver();
  try {
    const sender = new WebhookSender(`${rx.url}/hook`, ALL, openPolicy, FAST);
    sendAll(sender, ["logs", "logs", "completed"]);
    await sender.flushed();
    await new Promise((r) => setTimeout(r, THROTTLE_MS + 200)); // past the window the second logs waited for
    assert.deepEqual(numbers(rx), [0, 2]);
  } finally {
    await rx.close();
  }
});

test("the terminal delivery is retried on 429 and 5xx until it gets through; the others are tried once", async (t) => {
  const warned = warnings(t);
  const retried = await receiver({}, {}, [503, 429, 500]);
  const once = await receiver({}, {}, [503, 502, 400]);
  try {
    const sender = new WebhookSender(`${retried.url}/hook`, ALL, openPolicy, FAST);
    sender.send("completed", () => "{\"n\":0}");
    await sender.flushed();
    assert.deepEqual(numbers(retried), [0, 0, 0, 0], "three failures, then 200");

    // start and output get 503 and 502, completed a 400: none is retried, and each failure is told.
    const other = new WebhookSender(`${once.url}/hook`, ALL, openPolicy, FAST);
    sendAll(other, ["start", "output", "completed"]);
    await other.flushed();
    assert.deepEqual(numbers(once), [0, 1, 2]);
    assert.deepEqual(warned().map((w) => w.replace(/^webhook \S+: /, "")), [
      "giving up after 1 attempt(s): HTTP 503", "giving up after 1 attempt(s): HTTP 502",
    ], "a 400 is the receiver's answer, not a failure to retry or report");
  } finally {
    await retried.close();
    await once.close();
  }
});

test("after its last attempt the terminal delivery gives up, saying why; the sender goes on", async (t) => {
  const warned = warnings(t);
  const rx = await receiver({}, {}, [503, 503, 503, 503]);
  try {
    const sender = new WebhookSender(`${rx.url}/hook`, ALL, openPolicy, FAST);
    sendAll(sender, ["completed", "completed"]);
    await sender.flushed();
    assert.deepEqual(numbers(rx), [0, 0, 0, 0, 1], "four attempts at the first, the second through at once");
    assert.equal(warned().length, 1);
    assert.match(warned()[0], new RegExp(`^webhook ${rx.url}/hook: giving up after 4 attempt\\(s\\): HTTP 503$`));
  } finally {
    await rx.close();
  }
});

test("a refused connection and a receiver that never answers: each attempt ends, and the delivery gives up", async (t) => {
  const warned = warnings(t);
  const gone = await receiver();
  await gone.close(); // its port now refuses connections
  let attempts = 0;
  const silent = await loopback(() => void attempts++); // reads the request, never answers
  try {
    const refused = new WebhookSender(`${gone.url}/hook`, ALL, openPolicy, FAST);
    refused.send("completed", () => "{}");
    await refused.flushed();
    const hung = new WebhookSender(`${silent.url}/hook`, ALL, openPolicy, { ...FAST, attempts: 2, timeoutMs: 100 });
    hung.send("completed", () => "{}");
    await hung.flushed();
    assert.equal(attempts, 2);
    const [a, b] = warned();
    assert.match(a, /giving up after 4 attempt\(s\): .*ECONNREFUSED/);
    assert.match(b, /giving up after 2 attempt\(s\): no answer within 0\.1 s$/);
  } finally {
    await silent.close();
  }
});

test("a prediction's webhook_events_filter reaches its sender", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "kandinsky-webhooks-"));
  const rx = await receiver();
  const server = await serve({ dataDir });
  try {
    const r = await client(server.url)("POST", "/predictions", { input: small, webhook: `${rx.url}/hook`, webhook_events_filter: ["completed"] },
      { prefer: "respond-async" });
    assert.equal(r.status, 202);
    await waitFor("the completed webhook", () => rx.requests.length > 0 || undefined);
    // Deliveries go in order: anything before completed would have arrived first.
    assert.deepEqual(rx.requests.map((q) => JSON.parse(q.body.toString()).status), ["succeeded"]);
  } finally {
    await server.close();
    await rx.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
