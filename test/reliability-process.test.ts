// `kandinsky serve` as a supervisor runs it: under a wrapper (npx's shape: a parent that spawns the CLI and
// does not pass signals on), stopped with SIGTERM while a prediction runs. The built CLI on the tiny models.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { client, small, waitFor } from "./server-helpers.js";
import { fixture } from "./fixtures.js";

const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const TINY = fixture("tiny-a");
const MODELS = ["--prior", join(TINY, "prior"), "--decoder", join(TINY, "decoder"), "--inpaint", join(TINY, "inpaint"), "--offline"];
/** What npx does, reduced: spawn the command, print its pid, and die of a SIGTERM without passing it on (npx also sets npm_command). */
const WRAPPER = `const c = require("node:child_process").spawn(process.execPath, process.argv.slice(1), { stdio: ["ignore", "inherit", "inherit"] });
process.stdout.write(c.pid + "\\n");`;

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), "kandinsky-process-"));
});
after(() => rm(work, { recursive: true, force: true }));

/** A process's parent and state from /proc; undefined when it is gone. A zombie (state Z) counts as gone. */
function stat(pid: number): { ppid: number; state: string } | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ");
    return fields[0] === "Z" ? undefined : { state: fields[0], ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}
const childrenOf = (pid: number) => readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number).filter((p) => stat(p)?.ppid === pid);

/** Starts `argv` (node and its arguments), waits for "serving on <url>" and "models ready" on stderr. */
async function start(argv: string[], extraEnv: Record<string, string> = {}): Promise<{ proc: ChildProcess; url: string; stdout: () => string }> {
  // Under `npm test` this process has npm's variables: the child gets npm_command only when a test says so.
  const { npm_command: _, ...inherited } = process.env;
  const env = { ...inherited, HF_HUB_CACHE: join(work, "no-cache"), HF_ENDPOINT: "http://127.0.0.1:9", ...extraEnv };
  const proc = spawn(process.execPath, argv, { cwd: work, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (err += d));
  const url = await waitFor(`the server to start (stderr: ${err})`, () => (err.includes("models ready") ? /serving on (\S+)/.exec(err)?.[1] : undefined));
  return { proc, url, stdout: () => out };
}

/** Starts a prediction long enough to still run when the test acts; returns the pid of its inference process. */
async function running(url: string, serverPid: number): Promise<number> {
  const api = client(url);
  const r = await api("POST", "/predictions", { id: "long", input: { ...small, num_inference_steps: 500 } }, { prefer: "respond-async" });
  assert.equal(r.status, 202);
  await waitFor("the prediction to run", async () => (await api("GET", "/predictions/long")).body.logs.includes("decoder 1/") || undefined);
  const [worker] = childrenOf(serverPid);
  assert.ok(worker, "an inference process runs");
  return worker;
}

test("SIGTERM to npx, which does not pass it on: the server and its worker end with their parent", async () => {
  const dataDir = join(work, "wrapped");
  const { proc: wrapper, url, stdout } = await start(["-e", WRAPPER, CLI, "serve", "--port", "0", "--data-dir", dataDir, ...MODELS],
    { npm_command: "exec" });
  const server = Number(stdout().trim());
  const pids = [server];
  try {
    assert.equal(stat(server)?.ppid, wrapper.pid);
    pids.push(await running(url, server));
    wrapper.kill("SIGTERM");
    await once(wrapper, "exit");
    await waitFor("the server and its worker to end", () => pids.every((p) => !stat(p)) || undefined, 10_000);
    const record = JSON.parse(await readFile(join(dataDir, "predictions", "long.json"), "utf8"));
    assert.equal(record.status, "failed");
    assert.match(record.error, /shut down/);
  } finally {
    for (const p of pids) if (stat(p)) process.kill(p, "SIGKILL");
  }
});

test("a server not started by npm (nohup, a subshell that exits) outlives its parent", async () => {
  const { proc: wrapper, url, stdout } = await start(["-e", WRAPPER, CLI, "serve", "--port", "0", "--data-dir", join(work, "detached"), ...MODELS]);
  const server = Number(stdout().trim());
  try {
    wrapper.kill("SIGTERM");
    await once(wrapper, "exit");
    await waitFor("the server to be reparented", () => (stat(server)?.ppid !== wrapper.pid) || undefined);
    await new Promise((r) => setTimeout(r, 1500)); // three of the parent checks
    assert.equal((await client(url)("GET", "/health-check")).body.status, "READY");
  } finally {
    if (stat(server)) process.kill(server, "SIGKILL");
  }
});

test("SIGTERM to the server mid-prediction: it fails the prediction, stops its worker and exits 0 within seconds", async () => {
  const dataDir = join(work, "direct");
  const { proc, url } = await start([CLI, "serve", "--port", "0", "--data-dir", dataDir, ...MODELS]);
  const pids = [proc.pid!];
  try {
    pids.push(await running(url, proc.pid!));
    const exited = once(proc, "exit");
    proc.kill("SIGTERM");
    await waitFor("the server and its worker to end", () => pids.every((p) => !stat(p)) || undefined, 10_000);
    const [code] = await exited;
    assert.equal(code, 0);
    const record = JSON.parse(await readFile(join(dataDir, "predictions", "long.json"), "utf8"));
    assert.equal(record.status, "failed");
    assert.match(record.error, /shut down/);
  } finally {
    for (const p of pids) if (stat(p)) process.kill(p, "SIGKILL");
  }
});
