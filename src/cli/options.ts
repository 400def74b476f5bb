// Option parsers, and the image commands' options derived from the request-field table. Parsers only check the
// form of a value (an integer, a number); ranges are checked by the library's resolveRequest, so the command
// line and every API agree.
import { InvalidArgumentError, Option, type Command } from "commander";
import {
  FIELD_KEYS, FIELDS, fieldRange, rangeText, SERVER_DEFAULT_KEYS, type CliSpec, type FieldDefaults, type FieldKey, type FieldSpec, type Task,
} from "../request/fields.js";
import { checkRedisUrl } from "../cluster/redis-url.js";

export function integer(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isSafeInteger(n)) throw new InvalidArgumentError("expected an integer");
  return n;
}

export function positiveInteger(value: string): number {
  const n = integer(value);
  if (n < 1) throw new InvalidArgumentError("expected an integer >= 1");
  return n;
}

export function number(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError("expected a number");
  return n;
}

export function nonNegativeInteger(value: string): number {
  const n = integer(value);
  if (n < 0) throw new InvalidArgumentError("expected an integer >= 0");
  return n;
}

export function seconds(value: string): number {
  const n = number(value);
  if (n <= 0) throw new InvalidArgumentError("expected a number of seconds > 0");
  return n;
}

export function url(value: string): string {
  if (!URL.canParse(value)) throw new InvalidArgumentError("expected a URL");
  return value;
}

export function redisUrl(value: string): string {
  try {
    return checkRedisUrl(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

/** Resolves with the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (s: NodeJS.Signals) => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve(s);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}

/** What a field's option takes, parsed for its form only: ranges are the library's to check. */
const PARSERS: Partial<Record<FieldSpec["kind"], (value: string) => unknown>> = { integer, number };

/** A field's --help line: its description, range and default. */
export function helpText(key: FieldKey): string {
  const f: FieldSpec = FIELDS[key];
  const range = rangeText(fieldRange(key));
  const note = "note" in f.cli ? f.cli.note : undefined;
  const shown = note ?? (f.default === undefined || typeof f.default === "function" || f.kind === "boolean" ? undefined : String(f.default));
  return `${f.description}${range ? `; ${range}` : ""}${shown ? ` (default: ${shown})` : ""}`;
}

/** The fields a task reads, in table order. */
export function taskFields(task: Task): FieldKey[] {
  return FIELD_KEYS.filter((k) => {
    const tasks: readonly Task[] | undefined = (FIELDS[k] as FieldSpec).tasks;
    return !tasks || tasks.includes(task);
  });
}

/** How the command line names a field in a message: its flag, or its argument's name. */
export function cliName(key: FieldKey): string {
  const cli: CliSpec = FIELDS[key].cli;
  if ("flag" in cli) return cli.flag.split(" ")[0];
  if ("argument" in cli) return cli.argument.replace(/[<>]/g, "");
  return key;
}

/** A field's option from the table: its flag, choices and parser (no default: the library fills them in). */
function fieldOption(key: FieldKey, help: string): Option {
  const f: FieldSpec = FIELDS[key];
  if (!("flag" in f.cli)) throw new Error(`${key} is not a command-line flag`);
  const opt = new Option(f.cli.flag, help);
  if (f.values) opt.choices(f.values);
  const parse = PARSERS[f.kind];
  if (parse) opt.argParser(parse);
  return opt;
}

/** Reads a command's parsed options back as field values: those given only. */
type Collect<T = Partial<Record<FieldKey, unknown>>> = (opts: object) => T;

/** Adds `options` to `cmd`; the result reads the given ones back as field values. */
function addOptions(cmd: Command, options: [Option, FieldKey][]): Collect {
  for (const [opt] of options) cmd.addOption(opt);
  const attributes = options.map(([opt, key]) => [opt.attributeName(), key] as const);
  return (opts) => {
    const given = opts as Record<string, unknown>;
    return Object.fromEntries(attributes.filter(([a]) => given[a] !== undefined).map(([a, key]) => [key, given[a]]));
  };
}

/**
 * Adds an option for each field `task` reads that the command line takes as a flag, from the table: the flag,
 * its parser and its help. No defaults are set here: the library fills them in, so a request holds what was
 * given. Returns the parsed options as field values (image and mask fields: file paths).
 */
export function addFieldOptions(cmd: Command, task: Task): Collect {
  return addOptions(cmd, taskFields(task).filter((key) => "flag" in FIELDS[key].cli).map((key) => {
    const opt = fieldOption(key, helpText(key));
    if ((FIELDS[key] as FieldSpec).requiredFor?.includes(task)) opt.makeOptionMandatory();
    return [opt, key];
  }));
}

/** `kandinsky serve`'s options that set a field's default for the requests that do not give it (--precision). */
export function addDefaultOptions(cmd: Command): Collect<FieldDefaults> {
  const help = (key: FieldKey) => `the default of requests that give none, in every API: ${helpText(key)}`;
  // The values are the fields' own: commander checked their choices, startServer checks them as the library does.
  return addOptions(cmd, SERVER_DEFAULT_KEYS.map((key) => [fieldOption(key, help(key)), key])) as Collect<FieldDefaults>;
}
