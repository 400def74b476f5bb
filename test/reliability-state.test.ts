// The faulty-machine half of the reliability campaign: a full disk, a hung inference worker and corrupt records.
// Each test reproduces a fault the campaign found, bounded in time, on loopback.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { client, recordEngines, serve, small, waitFor } from "./server-helpers.js";

const { engines, createEngine } = recordEngines();

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), "kandinsky-state-"));
});
after(() => rm(work, { recursive: true, force: true }));

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Fills the file system holding `path` to the last byte; returns a function that frees the space again. */
async function fillDisk(path: string): Promise<() => Promise<void>> {
  const fh = await open(path, "w");
  for (let size = 1 << 20; size >= 1; size >>= 2) {
    const block = Buffer.alloc(size);
    try {
      for (;;) await fh.write(block);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
    }
  }
  await fh.close();
  return () => rm(path, { force: true });
}

async function temps(dir: string) {
  return (await readdir(dir)).filter((f) => f.endsWith(".tmp"));
}

/** A small tmpfs, mounted for the test and unmounted after, or undefined where mounting is not permitted. */
function mountTmpfs(at: string, size: string): boolean {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", at], { stdio: "pipe" });
    return true;
  } catch {
    return false;
  }
}

test("a full disk: 507 on create, the terminal state kept and written once there is room, no temp files left", async (t) => {
  const disk = join(work, "disk");
  await mkdir(disk);
  if (!mountTmpfs(disk, "4m")) return t.skip("mounting a tmpfs needs root and CAP_SYS_ADMIN");
  try {
    const dataDir = join(disk, "data");
    const server = await serve({ dataDir });
    const api = client(server.url);
    const predictions = join(dataDir, "predictions");
    try {
      let free = await fillDisk(join(disk, "filler"));
      const refused = await api("POST", "/predictions", { input: small });
      assert.equal(refused.status, 507, JSON.stringify(refused.body));
      assert.match(refused.body.detail, /storage is full.*ENOSPC/);
      assert.deepEqual(await temps(predictions), []);
      await free();

      // Long enough to be still running when the disk fills; cancelled then, its end is the write that finds no room.
      const started = await api("POST", "/predictions", { id: "full-1", input: { ...small, num_inference_steps: 500 } }, { prefer: "respond-async" });
      assert.equal(started.status, 202);
      await waitFor("the prediction to run", async () => (await api("GET", "/predictions/full-1")).body.logs?.includes("decoder 1/") || undefined);
      free = await fillDisk(join(disk, "filler"));
      assert.equal((await api("POST", "/predictions/full-1/cancel")).status, 200);
      const failed = await waitFor("the prediction to end", async () => {
        const p = (await api("GET", "/predictions/full-1")).body;
        return p.status === "failed" ? p : undefined;
      });
      assert.match(failed.error, /could not be stored: the server's storage is full/);
      const onDisk = async () => JSON.parse(await readFile(join(predictions, "full-1.json"), "utf8"));
      assert.equal((await onDisk()).status, "processing", "the disk had no room for the terminal state");

      await free();
      const stored = await waitFor("the terminal state to reach the disk", async () => {
        const p = await onDisk();
        return p.status === "failed" ? p : undefined;
      }, 10_000);
      assert.equal(stored.error, failed.error);
      assert.deepEqual(await temps(predictions), [], "every failed attempt (while the disk was full) removed its temp file");
      assert.deepEqual((await api("GET", "/predictions/full-1")).body, stored);
      assert.equal((await api("POST", "/predictions", { input: small })).body.status, "succeeded", "the server goes on");
    } finally {
      await server.close();
    }
  } finally {
    execFileSync("umount", [disk]);
  }
});

test("a hung worker past the time limit is killed after the stop grace; the prediction fails and the queue moves on", async () => {
  // The limit covers model loading, which the fresh worker does again for the queued prediction: room for
  // that on a busy machine (4 s on 2 loaded cores).
  const server = await serve({ dataDir: join(work, "hung"), predictTimeoutS: 10, stopGraceS: 1, createEngine });
  const api = client(server.url);
  let stopped: number | undefined;
  try {
    assert.equal((await api("POST", "/predictions", { input: small })).body.status, "succeeded", "a warm worker");
    const hung = await api("POST", "/predictions", { id: "hung", input: { ...small, num_inference_steps: 500 } }, { prefer: "respond-async" });
    assert.equal(hung.status, 202);
    const queued = await api("POST", "/predictions", { id: "queued", input: small }, { prefer: "respond-async" });
    assert.equal(queued.status, 202);
    await waitFor("the prediction to run", async () => (await api("GET", "/predictions/hung")).body.logs.includes("decoder 1/") || undefined);
    const engine = engines.at(-1)!;
    stopped = engine.pid!;
    process.kill(stopped, "SIGSTOP"); // as a deadlocked native call or a swapped-out machine would leave it
    const failed = await waitFor("the prediction to fail", async () => {
      const p = (await api("GET", "/predictions/hung")).body;
      return p.status === "failed" ? p : undefined;
    }, 30_000);
    assert.match(failed.error, /longer than the server's limit of 10 s/);
    assert.ok(!alive(stopped), "the hung worker was killed");
    const next = await waitFor("the queued prediction", async () => {
      const p = (await api("GET", "/predictions/queued")).body;
      return p.status === "succeeded" ? p : undefined;
    }, 30_000);
    assert.equal(next.output.length, 1);
    assert.notEqual(engines.at(-1), engine, "on a new worker");
  } finally {
    if (stopped && alive(stopped)) process.kill(stopped, "SIGKILL");
    await server.close();
  }
});

test("corrupt records (empty, truncated, not a prediction) are moved to predictions/corrupt/ and the server starts", async () => {
  const dataDir = join(work, "corrupt");
  const predictions = join(dataDir, "predictions");
  let server = await serve({ dataDir });
  const good = (await client(server.url)("PUT", "/predictions/good", { input: small })).body;
  assert.equal(good.status, "succeeded");
  await server.close();
  const whole = JSON.stringify(good);
  await writeFile(join(predictions, "empty.json"), "");
  await writeFile(join(predictions, "truncated.json"), whole.slice(0, whole.length / 2));
  await writeFile(join(predictions, "array.json"), "[]");
  await writeFile(join(predictions, "good.json.4242-0.tmp"), whole.slice(0, 10)); // a write a killed process left

  server = await serve({ dataDir });
  try {
    const api = client(server.url);
    assert.deepEqual((await api("GET", "/predictions/good")).body, good);
    for (const id of ["empty", "truncated", "array"]) assert.equal((await api("GET", `/predictions/${id}`)).status, 404, id);
    assert.deepEqual((await readdir(join(predictions, "corrupt"))).sort(), ["array.json", "empty.json", "truncated.json"]);
    assert.equal(await readFile(join(predictions, "corrupt", "truncated.json"), "utf8"), whole.slice(0, whole.length / 2), "kept as it was");
    assert.deepEqual(await temps(predictions), []);
    assert.equal((await api("PUT", "/predictions/empty", { input: small })).body.status, "succeeded", "the id can be used again");
  } finally {
    await server.close();
  }
});
