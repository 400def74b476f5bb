#!/usr/bin/env node
// The `kandinsky` command line.
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { addImageCommands } from "./generate.js";
import { addDownloadCommand } from "./download.js";
import { addServeCommand } from "./serve.js";
import { addWorkerCommand } from "./worker.js";
import { reportError, say } from "./errors.js";

/** How often the parent's presence is checked (a process cannot be told of it; Linux's PDEATHSIG is not exposed). */
const PARENT_CHECK_MS = 500;

const { version } = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };

const program = new Command("kandinsky")
  .description("Kandinsky 2.1 text-to-image on ONNX Runtime")
  .version(version)
  .option("--debug", "print the stack trace of any error")
  // Commander's own errors ("error: unknown option ...") in the same one-line form as ours.
  .configureOutput({ outputError: (text, write) => write(`kandinsky: ${text.replace(/^error: /, "").replace(/\n(?=.)/g, " ")}`) })
  .addHelpText("after", `
Examples:
  $ kandinsky generate "red cat, 4k photo" -o cat.png
  $ kandinsky img2img cat.png "a cat in a space suit" --strength 0.5
  $ kandinsky inpaint cat.png "a wizard hat" --mask hat-mask.png
  $ kandinsky mix --text "a cat" --weight 0.5 --image starry-night.jpg --weight 0.5
  $ kandinsky download
  $ kandinsky serve --port 5000
  $ kandinsky serve --redis redis://queue:6379 & kandinsky worker --redis redis://queue:6379

Run kandinsky <command> --help for a command's options.
`);
// npm's wrappers (npx, npm exec, npm run) do not pass a SIGTERM on: when the wrapper goes away, this process is
// reparented, and ends as if it had been sent SIGTERM, so that a supervisor stopping the command stops the
// service. Started any other way (directly, nohup, a subshell that exits) it outlives its parent as usual.
if (process.env.npm_command !== undefined) {
  const parent = process.ppid;
  const parentWatch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(parentWatch);
    say("the npm process that started this command is gone: stopping");
    process.kill(process.pid, "SIGTERM");
  }, PARENT_CHECK_MS).unref();
}

addImageCommands(program);
addDownloadCommand(program);
addServeCommand(program);
addWorkerCommand(program);

try {
  await program.parseAsync();
} catch (e) {
  process.exitCode = reportError(e, program.opts<{ debug?: boolean }>().debug ?? false);
}
