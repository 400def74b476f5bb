// Shared by the cluster's tests and bench: a real redis-server on a free loopback port, its data in a temporary
// folder, and `kandinsky worker` processes on the tiny models.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tinyModels } from "./server-helpers.js";

const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));

export interface RedisServer {
  url: string;
  /** SIGKILL, as a crash or a lost machine ends it. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data folder. */
  restart(): Promise<void>;
  /** Stops it and removes its data. */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** With `aof`, every write is in the append-only file (fsynced) before Redis acknowledges it. */
export async function startRedis(o: { aof?: boolean } = {}): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), "kandinsky-redis-"));
  const port = await freePort();
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--logfile", "",
    ...(o.aof ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"])];
  let proc: ChildProcess;
  const launch = async () => {
    proc = spawn("redis-server", args, { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    const ready = new Promise<void>((resolve, reject) => {
      proc.on("error", (e) => reject(new Error(`cannot start redis-server (install Debian's redis-server): ${e.message}`)));
      proc.on("exit", (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
      const read = (t: string) => {
        out += t;
        if (!out.includes("Ready to accept connections")) return;
        proc.stdout!.off("data", read).resume();
        resolve();
      };
      proc.stdout!.setEncoding("utf8").on("data", read);
    });
    await ready;
    proc.removeAllListeners("exit");
  };
  const end = async (signal: NodeJS.Signals) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, "exit");
    proc.kill(signal);
    await exited;
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    kill: () => end("SIGKILL"),
    restart: launch,
    async stop() {
      await end("SIGTERM");
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface WorkerProcess {
  pid: number;
  /** stderr so far. */
  stderr(): string;
  /** SIGKILL, as the kernel's OOM killer or a lost machine ends it. */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: a worker that stops responding (a partition, a stuck host), then comes back. */
  pause(): void;
  resume(): void;
  /** SIGTERM, then its exit code. */
  stop(): Promise<number | null>;
}

/** Starts `kandinsky worker` on the tiny models (one CPU thread: the machine is shared). */
export function startWorker(redisUrl: string, args: string[] = []): WorkerProcess {
  const { prior, decoder, inpaint } = tinyModels.dirs;
  const child = spawn(process.execPath, [CLI, "worker", "--redis", redisUrl, "--prior", prior, "--decoder", decoder!, "--inpaint", inpaint!,
    "--offline", "--keep-loaded", "--threads", "1", ...args], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (t: string) => (stderr += t));
  const exited = once(child, "exit").then(([code]) => code as number | null);
  const end = (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  return {
    pid: child.pid!, stderr: () => stderr, kill: async () => void (await end("SIGKILL")), stop: () => end("SIGTERM"),
    pause: () => child.kill("SIGSTOP"), resume: () => child.kill("SIGCONT"),
  };
}
