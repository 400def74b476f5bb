#!/usr/bin/env node
// The `kandinsky` command line.
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { addImageCommands } from "./generate.js";
import { addDownloadCommand } from "./download.js";
import { addServeCommand } from "./serve.js";
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

Run kandinsky <command> --help for a command's options.
`);
// A wrapper that is stopped may not pass the signal on (npx does not): when the parent goes away, this process
// is reparented, and ends as if it had been sent SIGTERM, so that a supervisor stopping the command stops the
// service. Started to outlive its parent on purpose (nohup, a subshell that exits), it says KANDINSKY_DETACHED=1.
if (process.env.KANDINSKY_DETACHED !== "1") {
  const parent = process.ppid;
  const parentWatch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(parentWatch);
    say("the parent process is gone: stopping (KANDINSKY_DETACHED=1 keeps a command running without it)");
    process.kill(process.pid, "SIGTERM");
  }, PARENT_CHECK_MS).unref();
}

addImageCommands(program);
addDownloadCommand(program);
addServeCommand(program);

try {
  await program.parseAsync();
} catch (e) {
  process.exitCode = reportError(e, program.opts<{ debug?: boolean }>().debug ?? false);
}
