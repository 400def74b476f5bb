#!/usr/bin/env node
// npm run parity -- <fixture-set-dir> [--only <prefix>[,<prefix>...]] [--attention fused|plain] [--provider cpu|webgpu|cuda]
// Runs every case of a fixture set (reference cases, tokenizer cases or seed cases) and prints one line per
// case, then "N passed, N failed, N skipped"; exits 1 when any case failed.
import { Command } from "commander";
import { existsSync } from "node:fs";
import { runParity, type ParityLine } from "./run.js";
import { formatResult } from "./report.js";
import type { Provider } from "../runtime/session.js";

const program = new Command("parity")
  .argument("<dir>", "fixture set folder (cases.json + tensors, tokenizer case files, or seed cases)")
  .option("--only <prefixes>", "comma-separated case id prefixes")
  .option("--attention <form>", "attention form: fused or plain", "fused")
  .option("--provider <name>", "execution provider", "cpu")
  .action(async (dir: string, o: { only?: string; attention: string; provider: string }) => {
    if (!existsSync(dir)) program.error(`parity: no such folder: ${dir}`);
    if (o.attention !== "fused" && o.attention !== "plain") program.error(`parity: --attention must be fused or plain, not "${o.attention}"`);
    const counts = { PASS: 0, FAIL: 0, SKIP: 0 };
    const print = (l: ParityLine) => {
      counts[l.result.status]++;
      console.log(formatResult(l.id, l.result));
    };
    for await (const line of runParity(dir, {
      only: o.only?.split(",").filter(Boolean),
      build: { compute: "float32", attention: o.attention as "fused" | "plain", padConvChannels: o.provider !== "cpu" },
      session: { provider: o.provider as Provider },
    })) print(line);
    console.log(`${counts.PASS} passed, ${counts.FAIL} failed, ${counts.SKIP} skipped`);
    process.exitCode = counts.FAIL > 0 ? 1 : 0;
  });

program.parseAsync().catch((e: Error) => {
  console.error(`parity: ${e.message}`);
  process.exitCode = 2;
});
