// Shared by the CLI tests: the built `kandinsky` command run as a child process, and checks of what it wrote.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import sharp from "sharp";

export const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI in `cwd` with no Hugging Face settings but `env`; by default (no HF_HOME or HF_HUB_CACHE in `env`) the
 * cache is an empty folder, and the hub a closed port, so nothing reaches the network.
 */
export function runCli(cwd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("HF_") && !k.startsWith("HUGGINGFACE_")));
  const cache = env["HF_HOME"] || env["HF_HUB_CACHE"] ? {} : { HF_HUB_CACHE: join(cwd, "no-cache") };
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { cwd, env: { ...base, ...cache, HF_ENDPOINT: "http://127.0.0.1:9", ...env } },
      (err, stdout, stderr) => done({ code: err ? (err.code as number) : 0, stdout, stderr }));
  });
}

export function succeeded(r: Run): void {
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}`);
}

/** [format, width, height] of an image file. */
export async function imageInfo(path: string): Promise<[string | undefined, number | undefined, number | undefined]> {
  const m = await sharp(path).metadata();
  return [m.format, m.width, m.height];
}

export interface ServeProcess {
  /** Where it serves, once the models are ready. */
  url: string;
  /** stderr so far. */
  stderr(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `kandinsky serve --port 0 ...args` in `cwd` with the environment's settings plus `env`, and waits for
 * "models ready" (failing on "setup failed", an exit, or 20 s).
 */
export async function startServe(cwd: string, args: string[], env: Record<string, string> = {}): Promise<ServeProcess> {
  const child = spawn(process.execPath, [CLI, "serve", "--port", "0", ...args], { cwd, env: { ...process.env, ...env } });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (t: string) => (stderr += t));
  const exited = once(child, "exit").then(([code]) => code as number | null);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    return exited;
  };
  try {
    for (const deadline = Date.now() + 20_000; !/models ready/.test(stderr);) {
      assert.ok(child.exitCode === null && !/setup failed/.test(stderr) && Date.now() < deadline, stderr);
      await new Promise((r) => setTimeout(r, 100));
    }
    const url = /^kandinsky: serving on (\S+)$/m.exec(stderr)?.[1];
    assert.ok(url, stderr);
    return { url, stderr: () => stderr, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
