// The cluster: two `serve --redis` fronts (in this process) and two `kandinsky worker` processes on one real
// redis-server, the tiny models, loopback only. Each test builds on the state the previous ones left.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import sharp from "sharp";
import { jobId, Keys } from "../src/cluster/keys.js";
import { Records } from "../src/cluster/records.js";
import { resolveOutput, resolveRequest } from "../src/request/resolve.js";
import { startServer } from "../src/server/index.js";
import { startRedis, startWorker, type RedisServer, type WorkerProcess } from "./cluster-helpers.js";
import { client, receiver, small, waitFor, type Reply, type Server } from "./server-helpers.js";

const TOKEN = "s3cret";
/** A worker presumed dead after 2 s without a heartbeat: its job runs again within about 3 s. */
const STALL = ["--stall-timeout", "2"];
const keys = new Keys("kandinsky");

let redis: RedisServer;
let inspect: Redis;
const workers: WorkerProcess[] = [];
const fronts: Server[] = [];
let api: ReturnType<typeof client>[] = [];
let rx: Awaited<ReturnType<typeof receiver>>;

const front = async () => startServer({ host: "127.0.0.1", port: 0, queueSize: 8, token: TOKEN, cluster: { redisUrl: redis.url } });
const ready = (call: ReturnType<typeof client>, count: number) => waitFor(`READY with ${count} workers`, async () => {
  const h = (await call("GET", "/health-check")).body;
  return h.status === "READY" && h.workers.list.filter((w: { status: string }) => w.status === "ready").length >= count ? h : undefined;
}, 60_000);
const settled = (call: ReturnType<typeof client>, id: string, timeoutMs = 60_000) => waitFor(`${id} to end`, async () => {
  const p = (await call("GET", `/predictions/${id}`)).body;
  return ["succeeded", "failed", "canceled"].includes(p.status) ? p : undefined;
}, timeoutMs);
const async = { prefer: "respond-async" };
/** A test that would wait forever on a broken cluster (a sync request no worker answers) fails instead. */
const BOUNDED = { timeout: 120_000 };

before(async () => {
  redis = await startRedis({ aof: true });
  inspect = new Redis(redis.url);
  inspect.on("error", () => {}); // Redis is killed on purpose
  rx = await receiver();
  workers.push(startWorker(redis.url, STALL), startWorker(redis.url, STALL));
  fronts.push(await front(), await front());
  api = fronts.map((f) => client(f.url, TOKEN));
});

after(async () => {
  await Promise.all(fronts.map((f) => f.close()));
  await Promise.all(workers.map((w) => w.stop()));
  inspect.disconnect();
  await redis.stop();
  await rx.close();
});

test("health: READY once a worker is, with the workers listed; the fronts load no models", BOUNDED, async () => {
  const h = await ready(api[0], 2);
  assert.equal(h.workers.count, 2);
  assert.deepEqual(h.workers.list.map((w: { device: string; concurrency: number; inpaint: boolean }) => [w.device, w.concurrency, w.inpaint]), [["cpu", 1, true], ["cpu", 1, true]]);
  assert.equal(h.setup.status, "succeeded");
  await ready(api[1], 2);
  assert.equal((await client(fronts[0].url)("POST", "/predictions", { input: small })).status, 401, "the token, as without a cluster");
});

test("SETUP_FAILED when every worker of a queue failed to load its models; predictions get a 503 saying why", BOUNDED, async () => {
  const broken = startWorker(redis.url, ["--queue-name", "broken", "--prior", "/nonexistent/prior", ...STALL]);
  const lone = await startServer({ host: "127.0.0.1", port: 0, queueSize: 1, cluster: { redisUrl: redis.url, queueName: "broken" } });
  try {
    const call = client(lone.url);
    const h = await waitFor("SETUP_FAILED", async () => {
      const body = (await call("GET", "/health-check")).body;
      return body.status === "SETUP_FAILED" ? body : undefined;
    }, 30_000);
    assert.match(h.setup.logs, /loading the models failed: model \/nonexistent\/prior is neither/);
    const refused = await call("POST", "/predictions", { input: small });
    assert.equal(refused.status, 503);
    assert.equal(refused.body.status, "failed");
    assert.match(refused.body.error, /every worker failed to load the models: .*nonexistent/);
  } finally {
    await lone.close();
    await broken.stop();
  }
});

test("bad input is refused by the front before anything is queued", BOUNDED, async () => {
  const cases: [string, unknown, string][] = [
    ["bad-width", { ...small, width: 2000 }, "width"],
    ["bad-task", { ...small, task: "img2img" }, "image"],
    ["bad-image", { ...small, task: "img2img", image: "data:image/png;base64,AAAA" }, "image"],
  ];
  for (const [id, input, field] of cases) {
    const r = await api[0]("PUT", `/predictions/${id}`, { input }, async);
    assert.equal(r.status, 422, id);
    assert.deepEqual(r.body.detail[0].loc, ["body", "input", field]);
    assert.equal((await api[1]("GET", `/predictions/${id}`)).status, 404);
    assert.equal(await inspect.exists(keys.record(id), keys.request(id), `bull:kandinsky:${jobId(id)}`), 0, `${id}: nothing in Redis`);
  }
});

test("six predictions over both fronts, a worker killed mid-run: all succeed, readable anywhere, one completed webhook each", BOUNDED, async () => {
  const ids = ["c-0", "c-1", "c-2", "c-3", "c-4", "c-5"];
  // c-0 runs long enough to be killed mid-run; the others are quick.
  for (const [i, id] of ids.entries()) {
    const input = { ...small, seed: i, num_inference_steps: i === 0 ? 100 : 2 };
    const r = await api[i % 2]("PUT", `/predictions/${id}`, { input, webhook: `${rx.url}/hook/${id}`, webhook_events_filter: ["start", "completed"] }, async);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.status, "starting");
  }
  const running = await waitFor("c-0 to run", async () => {
    const p = (await api[1]("GET", "/predictions/c-0")).body;
    return /decoder 1\//.test(p.logs) ? p : undefined;
  });
  const pid = Number(/worker [^ ]+:(\d+) \(attempt 1 of 2\)/.exec(running.logs)?.[1]);
  const victim = workers.find((w) => w.pid === pid);
  assert.ok(victim, `c-0 runs on one of our workers: ${running.logs}`);
  await victim.kill();
  workers.splice(workers.indexOf(victim), 1);
  workers.push(startWorker(redis.url, STALL)); // a replacement, as a supervisor would start

  const done = await Promise.all(ids.map((id, i) => settled(api[i % 2], id)));
  for (const p of done) assert.equal(p.status, "succeeded", `${p.id}: ${p.error}\n${p.logs}`);
  const retried = done[0];
  assert.match(retried.logs, new RegExp(`worker [^ ]+:${pid} stopped responding while it ran this prediction \\(attempt 1 of 2\\)\\n`));
  assert.match(retried.logs, /\(attempt 2 of 2\)\n/);
  assert.equal(retried.metrics.seed, 0);
  for (const p of done) {
    const [a, b] = await Promise.all(api.map((call) => call("GET", `/predictions/${p.id}`)));
    assert.deepEqual(a.body, b.body, `${p.id} reads the same from both fronts`);
    assert.equal(a.body.output.length, 1);
    const png = await sharp(Buffer.from(a.body.output[0].replace(/^data:image\/png;base64,/, ""), "base64")).metadata();
    assert.deepEqual([png.format, png.width, png.height], ["png", 128, 128]);
  }
  await new Promise((r) => setTimeout(r, 300)); // a second completed webhook would have come by now
  for (const id of ids) {
    const hooks = rx.requests.filter((q) => q.url === `/hook/${id}`).map((q) => JSON.parse(q.body.toString()));
    assert.equal(hooks.filter((h) => h.status === "succeeded").length, 1, `${id}: one completed webhook`);
    assert.deepEqual(hooks.at(-1), done.find((p) => p.id === id), `${id}: the webhook carries the final prediction`);
  }
});

test("a worker that stops responding and comes back cannot overwrite the prediction that ran elsewhere", BOUNDED, async () => {
  await ready(api[0], 2);
  const hook = `${rx.url}/hook/frozen`;
  assert.equal((await api[0]("PUT", "/predictions/frozen", { input: { ...small, num_inference_steps: 100 }, webhook: hook }, async)).status, 202);
  const running = await waitFor("it to run", async () => {
    const p = (await api[1]("GET", "/predictions/frozen")).body;
    return /decoder 1\//.test(p.logs) ? p : undefined;
  });
  const pid = Number(/worker [^ ]+:(\d+) \(attempt 1 of 2\)/.exec(running.logs)?.[1]);
  const frozen = workers.find((w) => w.pid === pid)!;
  frozen.pause();
  try {
    const p = await settled(api[1], "frozen");
    assert.equal(p.status, "succeeded", `${p.error}\n${p.logs}`);
    assert.match(p.logs, /\(attempt 2 of 2\)\n/);
    frozen.resume();
    // Its own run ends meanwhile (its inference process was not stopped): nothing of it may reach the record.
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual((await api[0]("GET", "/predictions/frozen")).body, p);
    assert.equal(rx.requests.filter((q) => q.url === "/hook/frozen" && JSON.parse(q.body.toString()).status === "succeeded").length, 1);
  } finally {
    frozen.resume();
  }
});

test("a cancel sent to another front stops a running prediction at its next step; a queued one at once", BOUNDED, async () => {
  await ready(api[0], 2);
  const long = { ...small, num_inference_steps: 500 };
  assert.equal((await api[0]("PUT", "/predictions/long-a", { input: long }, async)).status, 202);
  assert.equal((await api[0]("PUT", "/predictions/long-b", { input: long }, async)).status, 202);
  await waitFor("both to run", async () => {
    const logs = await Promise.all(["long-a", "long-b"].map(async (id) => (await api[1]("GET", `/predictions/${id}`)).body.logs as string));
    return logs.every((l) => /decoder 1\//.test(l)) || undefined;
  });
  // Both workers busy: with no room to wait (a front with --queue-size 0), BUSY and a 409.
  const strict = await startServer({ host: "127.0.0.1", port: 0, queueSize: 0, cluster: { redisUrl: redis.url } });
  try {
    assert.equal((await client(strict.url)("GET", "/health-check")).body.status, "BUSY");
    const refused = await client(strict.url)("POST", "/predictions", { input: small }, async);
    assert.equal(refused.status, 409);
    assert.match(refused.body.error, /queue is full/);
  } finally {
    await strict.close();
  }
  // With room, the next one waits in the queue, and is canceled there: the front that cancels it sends its webhook.
  assert.equal((await api[0]("PUT", "/predictions/long-c", { input: long, webhook: `${rx.url}/hook/long-c` }, async)).status, 202);
  assert.deepEqual((await api[1]("POST", "/predictions/long-c/cancel")).body, {});
  const queued = await settled(api[0], "long-c", 20_000);
  assert.equal(queued.status, "canceled");
  assert.equal(queued.started_at, null);
  const hooks = await waitFor("long-c's webhook", () => rx.requests.filter((q) => q.url === "/hook/long-c").map((q) => JSON.parse(q.body.toString())).filter((h) => h.status === "canceled").at(0));
  assert.deepEqual(hooks, queued);

  for (const id of ["long-a", "long-b"]) assert.equal((await api[1]("POST", `/predictions/${id}/cancel`)).status, 200);
  for (const id of ["long-a", "long-b"]) {
    const p = await settled(api[0], id, 20_000);
    assert.equal(p.status, "canceled");
    assert.equal(p.output, null);
    assert.doesNotMatch(p.logs, /decoder 500\/500/);
  }
  assert.equal((await api[1]("POST", "/predictions/nope/cancel")).status, 404);
});

test("a worker stopped with SIGTERM hands its prediction back to the queue; another worker runs it, no attempt counted", BOUNDED, async () => {
  assert.equal((await api[0]("PUT", "/predictions/handed", { input: { ...small, num_inference_steps: 100 } }, async)).status, 202);
  const running = await waitFor("it to run", async () => {
    const p = (await api[1]("GET", "/predictions/handed")).body;
    return /decoder 1\//.test(p.logs) ? p : undefined;
  });
  const pid = Number(/worker [^ ]+:(\d+) \(attempt 1 of 2\)/.exec(running.logs)?.[1]);
  const stopping = workers.find((w) => w.pid === pid)!;
  workers.splice(workers.indexOf(stopping), 1);
  assert.equal(await stopping.stop(), 0);
  const p = await settled(api[0], "handed");
  assert.equal(p.status, "succeeded", `${p.error}\n${p.logs}`);
  assert.match(p.logs, new RegExp(`worker [^ ]+:${pid} stopped; the prediction is queued again\n`));
  assert.equal(p.logs.match(/\(attempt 1 of 2\)/g)?.length, 2, p.logs);
});

test("a prediction whose front stopped before queuing it is queued by the next request for it", BOUNDED, async () => {
  // What a front that dies between writing the record and queuing the job leaves: a record, no job.
  const records = new Records(inspect, keys);
  const now = new Date().toISOString();
  const { input } = (await api[0]("GET", "/predictions/c-3")).body; // a checked input, defaults filled in
  const orphan = { id: "orphan", input, output: null, logs: "", error: null, status: "starting", created_at: now, started_at: null, completed_at: null, metrics: {} };
  const job = { output: resolveOutput(), urlPolicy: { denyPrivate: false, allowHosts: [] }, timeoutMs: 60_000, maxAttempts: 2, resultTtlS: 600 };
  const request = resolveRequest({ prompt: "a red cat", width: 128, height: 128, steps: 2, priorSteps: 2 });
  assert.ok(await records.create(orphan as never, job, request));
  const again = await api[1]("PUT", "/predictions/orphan", { input: small });
  assert.equal(again.status, 200);
  assert.equal(again.body.status, "succeeded", again.body.error);
});

test("a restarted front answers for earlier predictions; idempotent PUT, events and a sync prediction through it", BOUNDED, async () => {
  const before = await Promise.all(["c-0", "c-3", "long-a"].map(async (id) => (await api[1]("GET", `/predictions/${id}`)).body));
  await fronts[0].close();
  fronts[0] = await front();
  api[0] = client(fronts[0].url, TOKEN);
  for (const p of before) assert.deepEqual((await api[0]("GET", `/predictions/${p.id}`)).body, p);

  const again = await api[0]("PUT", "/predictions/c-3", { input: { ...small, prompt: "something else" } });
  assert.equal(again.status, 200);
  assert.deepEqual(again.body, before[1], "the same id is the same prediction, not a second run");

  const created = await api[1]("POST", "/predictions", { input: { ...small, num_inference_steps: 6 } }, async);
  const res = await fetch(`${fronts[0].url}/predictions/${created.body.id}/events`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const events = [...(await res.text()).matchAll(/event: (\w+)\ndata: (.*)\n\n/g)].map((m) => ({ event: m[1], data: JSON.parse(m[2]) }));
  assert.equal(events.at(-1)!.event, "completed");
  assert.equal(events.at(-1)!.data.status, "succeeded");
  assert.ok(["prediction", "completed"].includes(events[0].event));

  const sync = await api[0]("POST", "/predictions", { input: { ...small, seed: 11 } });
  assert.equal(sync.status, 200);
  assert.equal(sync.body.status, "succeeded", sync.body.error);
  assert.match(sync.body.output[0], /^data:image\/png;base64,/);
  assert.equal(sync.body.metrics.seed, 11);
});

test("Redis down: the fronts answer 503 with a JSON error and recover when it is back, with nothing acknowledged lost", BOUNDED, async () => {
  const accepted = await api[0]("PUT", "/predictions/outage", { input: { ...small, seed: 5, num_inference_steps: 80 } }, async);
  assert.equal(accepted.status, 202);
  await waitFor("it to run", async () => /decoder 1\//.test((await api[1]("GET", "/predictions/outage")).body.logs) || undefined);
  await redis.kill();
  const answers: Reply[] = await Promise.all([
    api[0]("GET", "/predictions/outage"), api[1]("POST", "/predictions", { input: small }), api[1]("POST", "/predictions/outage/cancel"),
    api[0]("GET", "/health-check"),
  ]);
  for (const r of answers) {
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.match(r.body.detail, /Redis \(127\.0\.0\.1:\d+\) is unreachable/);
  }
  assert.equal(answers[3].body.status, "UNHEALTHY");

  // Longer than the stall timeout: the running job's lock expires meanwhile, and it may be run again.
  await new Promise((r) => setTimeout(r, 2500));
  await redis.restart();
  for (const call of api) await ready(call, 1);
  const p = await settled(api[1], "outage");
  assert.equal(p.status, "succeeded", `${p.error}\n${p.logs}`);
  assert.equal(p.metrics.seed, 5);
  const sync = await api[0]("POST", "/predictions", { input: small });
  assert.equal(sync.body.status, "succeeded", JSON.stringify(sync.body));
});
