#!/usr/bin/env node
// node dist/bench/random-models.js [out-dir] [--fp16] [--only <repo/component>,...] [--configs <dir>]
// Writes (or completes) a full-size random-weight model set; see random-set.ts. Default out-dir:
// ~/.cache/kandinsky-ts/random-full; default configs: ../shared/fixtures/kandinsky21/full-configs.
import { DEFAULT_OUT, ensureRandomModels } from "./random-set.js";

function main(argv: string[]): void {
  const args = [...argv];
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? (args.splice(i, 1), true) : false;
  };
  const value = (name: string) => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    if (i + 1 >= args.length) throw new Error(`${name} needs a value`);
    return args.splice(i, 2)[1];
  };
  const fp16 = flag("--fp16");
  const only = value("--only")?.split(",").filter(Boolean);
  const configs = value("--configs");
  if (args.some((a) => a.startsWith("--")) || args.length > 1) {
    throw new Error("usage: random-models [out-dir] [--fp16] [--only <repo/component>,...] [--configs <dir>]");
  }
  const out = args[0] ?? DEFAULT_OUT;
  const done = ensureRandomModels(out, { configs, fp16, only, log: (l) => console.log(l) });
  console.log(`${out}: ${done.join(", ")} ready (${fp16 ? "fp16" : "fp32"})`);
}

try {
  main(process.argv.slice(2));
} catch (e) {
  console.error(`random-models: ${(e as Error).message}`);
  process.exitCode = 1;
}
