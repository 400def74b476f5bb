// Preloaded with --import (through NODE_OPTIONS, so that forked children load it too) when LOAD_LOG names a file:
// every module a process imports is appended to that file as "<pid>\t<main script>\t<url>". Tests read it to see
// which process loaded what.
import { appendFileSync } from "node:fs";
import { register } from "node:module";
import { isMainThread } from "node:worker_threads";

interface Data {
  log: string;
  main: string;
}

let data: Data | undefined;

// Node runs the hooks below on a thread of their own, which loads this module again: only the main thread registers.
if (isMainThread && process.env.LOAD_LOG) {
  register(import.meta.url, { data: { log: process.env.LOAD_LOG, main: process.argv[1] ?? "" } satisfies Data });
}

export function initialize(d: Data): void {
  data = d;
}

type Resolve = (specifier: string, context: unknown) => Promise<{ url: string }>;

export async function resolve(specifier: string, context: unknown, next: Resolve): Promise<{ url: string }> {
  const r = await next(specifier, context);
  if (data) appendFileSync(data.log, `${process.pid}\t${data.main}\t${r.url}\n`);
  return r;
}
