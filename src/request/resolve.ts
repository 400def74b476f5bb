// A request checked and completed from the field table: every range and type, what each task needs and what it
// does not read, the task inferred and the seed drawn (once: a resolved request keeps its seed, so resolving it
// again changes nothing). The library, the command line and every API of the server resolve through here.
//
// Exported API (stable): resolveRequest(req, { limits, defaults }) -> ResolvedRequest, resolveOutput(o) ->
// ResolvedOutput, checkDefaults(defaults) (a server's defaults, checked as values of their fields), RequestError
// (its `field` and `problem` let an API name the field its own way).
import {
  FIELDS, fieldDefault, fieldRange, LIMITS, rangeText, type FieldDefaults, type FieldKey, type FieldLimits, type FieldSpec,
  type GenerateRequest, type OutputRequest, type Range, type ResolvedOutput, type ResolvedRequest, type Task,
} from "./fields.js";

/**
 * A request that cannot run. For a field's fault, `field` is its library name and `problem` the words that
 * follow the name ("must be an integer from 16 to 4096, got 0"); the message is the two together.
 */
export class RequestError extends Error {
  constructor(message: string, readonly field?: FieldKey, readonly problem?: string) {
    super(message);
  }

  static of(field: FieldKey, problem: string): RequestError {
    return new RequestError(`${field} ${problem}`, field, problem);
  }
}

export interface ResolveOptions {
  /** A server's settings that lower some maxima (serve --max-size, --max-outputs, --max-steps). */
  limits?: FieldLimits;
  /** A server's defaults for the fields that allow one (serve --precision), checked by checkDefaults. */
  defaults?: FieldDefaults;
}

const show = (v: unknown) => (typeof v === "string" ? JSON.stringify(v) : Array.isArray(v) ? "a list" : typeof v === "object" && v ? "an object" : String(v));
const list = (xs: readonly string[]) => xs.join(xs.length > 2 ? ", " : " or ");

function inRange(v: number, r: Range): boolean {
  return !(r.minimum !== undefined && v < r.minimum) && !(r.exclusiveMinimum !== undefined && v <= r.exclusiveMinimum)
    && !(r.maximum !== undefined && v > r.maximum);
}

function isImage(v: unknown, channels: number): boolean {
  const im = v as { width?: unknown; height?: unknown; data?: unknown };
  return typeof im === "object" && im !== null && Number.isInteger(im.width) && Number.isInteger(im.height)
    && (im.width as number) > 0 && (im.height as number) > 0 && im.data instanceof Uint8Array
    && im.data.length === (im.width as number) * (im.height as number) * channels;
}

/** The problem with a value of a field, or undefined. */
function problemOf(key: FieldKey, v: unknown, limits: FieldLimits): string | undefined {
  const f: FieldSpec = FIELDS[key];
  const r = fieldRange(key, limits);
  const why = r.limitedBy ? ` (this server's limit, ${LIMITS[r.limitedBy]})` : "";
  switch (f.kind) {
    case "integer":
    case "number": {
      const ok = typeof v === "number" && (f.kind === "integer" ? Number.isInteger(v) : Number.isFinite(v)) && inRange(v, r);
      return ok ? undefined : `must be ${[f.kind === "integer" ? "an integer" : "a number", rangeText(r)].filter(Boolean).join(" ")}, got ${show(v)}${why}`;
    }
    case "string":
      return typeof v !== "string" ? `must be a string, got ${show(v)}`
        : f.maxLength !== undefined && v.length > f.maxLength ? `must be at most ${f.maxLength} characters, got ${v.length}` : undefined;
    case "boolean":
      return typeof v === "boolean" ? undefined : `must be true or false, got ${show(v)}`;
    case "enum":
      return f.values!.includes(v as string) ? undefined : `must be one of ${f.values!.join(", ")}, got ${show(v)}`;
    case "image":
      return isImage(v, 3) ? undefined : "must be an RGB image: { width, height, data: width x height x 3 bytes }";
    case "mask":
      return isImage(v, 1) ? undefined : "must be a one-channel image: { width, height, data: width x height bytes }";
    case "mix":
      return mixProblem(v, f);
  }
}

function mixProblem(v: unknown, f: FieldSpec): string | undefined {
  if (!Array.isArray(v) || v.length === 0) return "must hold at least one text or image";
  if (v.length > f.maxItems!) return `must hold at most ${f.maxItems} texts and images, got ${v.length}`;
  const w = f.weights!;
  for (const [i, it] of (v as { text?: unknown; image?: unknown; weight?: unknown }[]).entries()) {
    const hasText = it?.text !== undefined, hasImage = it?.image !== undefined;
    if (hasText === hasImage) return `item ${i} must have a text or an image (one of them)`;
    if (hasText && (typeof it.text !== "string" || it.text.length > f.maxLength!)) return `item ${i}: the text must be a string of at most ${f.maxLength} characters`;
    if (hasImage && !isImage(it.image, 3)) return `item ${i}: the image must be an RGB image`;
    const ok = typeof it.weight === "number" && Number.isFinite(it.weight) && it.weight >= w.minimum && it.weight <= w.maximum;
    if (!ok) return `item ${i}: the weight must be a number from ${w.minimum} to ${w.maximum}, got ${show(it.weight)}`;
  }
  return undefined;
}

function check(key: FieldKey, v: unknown, limits: FieldLimits): void {
  const problem = problemOf(key, v, limits);
  if (problem) throw RequestError.of(key, problem);
}

/** The fields of one group, checked against the table and completed, for `task` (undefined: no task rules). */
function resolveGroup(group: FieldSpec["group"], values: Record<string, unknown>, o: ResolveOptions, task?: Task): Record<string, unknown> {
  const limits = o.limits ?? {};
  if (typeof values !== "object" || values === null) throw new RequestError(`a ${group} must be an object`);
  for (const [k, v] of Object.entries(values)) {
    if (v !== undefined && (FIELDS as Record<string, FieldSpec>)[k]?.group !== group) throw new RequestError(`unknown ${group} field "${k}"`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(FIELDS) as [FieldKey, FieldSpec][]) {
    if (f.group !== group) continue;
    const v = values[key];
    if (task !== undefined && f.requiredFor?.includes(task) && (v === undefined || v === "")) {
      throw RequestError.of(key, `is required for task ${task}`);
    }
    if (v === undefined) {
      const d = fieldDefault(key, o.defaults);
      if (d !== undefined) out[key] = typeof d === "function" ? d(values) : d;
      continue;
    }
    if (task !== undefined && f.tasks && !f.tasks.includes(task) && f.default === undefined) {
      if (v === "") continue; // says nothing
      throw RequestError.of(key, `is only used by task ${list(f.tasks)} (task is ${task})`);
    }
    check(key, v, limits);
    out[key] = v;
  }
  return out;
}

/**
 * Checks a request against the table and completes it: the task first (inferred when absent), then each field
 * (its type and range, narrowed by `limits`; whether the task needs it or reads it), defaults filled in and the
 * seed drawn. A field without a default given to a task that does not read it is an error (it would be ignored
 * silently), unless it is an empty string; one with a default is ignored.
 */
export function resolveRequest(req: GenerateRequest, o: ResolveOptions = {}): ResolvedRequest {
  const limits = o.limits ?? {};
  if (req?.task !== undefined) check("task", req.task, limits);
  const task = req?.task ?? FIELDS.task.default(req ?? {});
  const out = resolveGroup("request", { ...req, task }, o, task);
  // A mix makes one image embedding, hence one image.
  if (task === "mix" && out.numOutputs !== 1) throw RequestError.of("numOutputs", `must be 1 for task mix, got ${show(out.numOutputs)}`);
  return out as ResolvedRequest;
}

/** Checks the output options and fills in their defaults. */
export function resolveOutput(o: OutputRequest = {}): ResolvedOutput {
  return resolveGroup("output", o, {}) as ResolvedOutput;
}

/** A server's defaults, each a field that allows one (FieldSpec.serverDefault) with a value that field takes. */
export function checkDefaults(defaults: Record<string, unknown>): FieldDefaults {
  for (const [key, v] of Object.entries(defaults)) {
    if (v === undefined) continue;
    if (!(FIELDS as Record<string, FieldSpec>)[key]?.serverDefault) throw new RequestError(`a server cannot set the default of "${key}"`);
    check(key as FieldKey, v, {});
  }
  return defaults as FieldDefaults;
}
