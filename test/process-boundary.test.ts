// The process boundary: the CLI and the server (and a library caller that only uses Engine) never load ONNX
// Runtime; the inference process does, checks its provider once and reports a fallback, which the parent prints.
// Which process imported what is logged by load-log.ts, preloaded into every process of a run.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { CLI, runCli, startServe, succeeded } from "./cli-helpers.js";
import { fixture } from "./fixtures.js";
import { client, small, waitFor } from "./server-helpers.js";

const TINY = fixture("tiny-a");
const MODELS = ["--prior", join(TINY, "prior"), "--decoder", join(TINY, "decoder")];
/** A provider whose check fails on any machine: no CUDA device is visible (with or without CUDA's libraries). */
const NO_CUDA = { CUDA_VISIBLE_DEVICES: "" };
const CUDA_FALLBACK = /provider "cuda" is not available \(.+\); using cpu/;
const ORT = "/node_modules/onnxruntime-node/";
const WORKER = fileURLToPath(new URL("../src/engine/worker.js", import.meta.url));

let work: string;
let runs = 0;
before(async () => {
  work = await mkdtemp(join(tmpdir(), "kandinsky-boundary-"));
});
after(() => rm(work, { recursive: true, force: true }));

/** Environment under which every process started logs its imports into a file of its own; `read` parses it. */
function logged(): { env: Record<string, string>; read: () => Promise<Map<string, string[]>> } {
  const log = join(work, `imports-${++runs}.log`);
  const hook = new URL("./load-log.js", import.meta.url).href;
  return {
    env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import=${hook}`.trim(), LOAD_LOG: log },
    /** The URLs each process (by its main script) imported. */
    read: async () => {
      const byMain = new Map<string, string[]>();
      for (const line of (await readFile(log, "utf8")).split("\n").filter(Boolean)) {
        const [, main, url] = line.split("\t");
        byMain.set(main, [...(byMain.get(main) ?? []), url]);
      }
      return byMain;
    },
  };
}

const ortIn = (urls: string[] | undefined) => (urls ?? []).filter((u) => u.includes(ORT));

test("importing the library and the server, and the CLI's help, load no ONNX Runtime", async () => {
  const { env, read } = logged();
  const entries = ["../src/index.js", "../src/server/index.js", "../src/engine/engine.js"].map((p) => new URL(p, import.meta.url).href);
  const script = entries.map((u) => `await import(${JSON.stringify(u)});`).join(" ");
  await new Promise<void>((resolve, reject) =>
    execFile(process.execPath, ["--input-type=module", "-e", script], { env: { ...process.env, ...env } }, (e) => (e ? reject(e) : resolve())));
  succeeded(await runCli(work, ["generate", "--help"], env));
  const byMain = await read();
  const library = [...byMain.entries()].find(([main]) => !main.endsWith("main.js"))?.[1];
  for (const u of entries) assert.ok(library?.includes(u), `the log shows ${u} imported`);
  assert.deepEqual(ortIn(library), []);
  assert.ok(byMain.get(CLI)?.some((u) => u.endsWith("/cli/generate.js")), "the log shows the CLI's modules");
  assert.deepEqual(ortIn(byMain.get(CLI)), []);
});

test("generate: only the inference process loads ONNX Runtime; its provider fallback is printed by the CLI", async () => {
  const { env, read } = logged();
  const r = await runCli(work, ["generate", "a red cat", ...MODELS, "--width", "64", "--height", "64", "--steps", "2", "--prior-steps", "2",
                                "--seed", "1", "--device", "cuda", "-o", "cat.png"], { ...env, ...NO_CUDA });
  succeeded(r);
  assert.equal(r.stderr.match(new RegExp(`^kandinsky: warning: ${CUDA_FALLBACK.source}$`, "gm"))?.length, 1, r.stderr);
  const byMain = await read();
  assert.notDeepEqual(ortIn(byMain.get(WORKER)), [], "the inference process loaded it (the log sees ONNX Runtime)");
  assert.deepEqual(ortIn(byMain.get(CLI)), []);
});

test("serve: only the inference process loads ONNX Runtime; the server prints its provider fallback as it starts", async () => {
  const { env, read } = logged();
  const server = await startServe(work, ["--data-dir", join(work, "data"), ...MODELS, "--inpaint", join(TINY, "inpaint"), "--device", "cuda", "--offline"], { ...env, ...NO_CUDA });
  try {
    await waitFor("the fallback warning", () => new RegExp(`^kandinsky serve: warning: ${CUDA_FALLBACK.source}$`, "m").test(server.stderr()) || undefined);
    const p = await client(server.url)("POST", "/predictions", { input: small });
    assert.equal(p.body.status, "succeeded", p.body.error);
  } finally {
    assert.equal(await server.stop(), 0, server.stderr());
  }
  const byMain = await read();
  assert.notDeepEqual(ortIn(byMain.get(WORKER)), [], "the inference process loaded it (the log sees ONNX Runtime)");
  assert.deepEqual(ortIn(byMain.get(CLI)), []);
});
