// How the command line reports failures: a user's mistake (bad option, missing file, unknown model) is one
// line and exit status 1; anything else is an internal error: one line plus a hint, the stack with --debug.
import { CancelledError } from "../pipelines/progress.js";
import { RequestError } from "../request/resolve.js";

/** A problem with what the user asked for, reported as is. */
export class UserError extends Error {}

export const say = (line: string) => process.stderr.write(`kandinsky: ${line}\n`);

/** Reports `e` on stderr and returns the exit status. */
export function reportError(e: unknown, debug: boolean): number {
  const err = e instanceof Error ? e : new Error(String(e));
  const origin = err.cause instanceof Error ? err.cause : err;
  if (debug) process.stderr.write(`${origin.stack ?? origin.message}\n`);
  if (err instanceof CancelledError) {
    say("cancelled");
    return 130;
  }
  if (err instanceof UserError || err instanceof RequestError) {
    if (!debug) say(err.message);
    return 1;
  }
  if (!debug) say(`${err.message}\nkandinsky: this is an internal error; re-run with --debug to see its stack trace`);
  return 70; // EX_SOFTWARE
}

