// What the OpenAI and AUTOMATIC1111 APIs share in turning their requests into a Cog input: names from the
// request-field table, the input checked with the server's input schema (defaults filled in), errors named in
// the API's own names, image bytes as data URLs, form values typed as the table types them, and an image's size
// fitted into the size limits.
import { apiNames, COG_NAMES, FIELDS, fieldRange, type Api, type FieldKey, type FieldLimits, type FieldSpec } from "../request/fields.js";
import { InputError, validationDetails } from "./errors.js";
import type { Input } from "./schema.js";
import type { InputCheck } from "./validate.js";

/** A field's Cog input name (of the fields that have one). */
export const cogName = (key: FieldKey) => apiNames("cog", key)[0];

/** The API's name of a Cog input field (for errors), or undefined when it has none. */
export const apiNameOf = (api: Api) => (cogField: string): string | undefined => {
  const key = COG_NAMES[cogField]?.[0];
  return key && apiNames(api, key)[0];
};

type Loc = (string | number)[];

/** loc ["body", "input", "width", ...] -> ["body", <the API's name>, ...]; unnamed fields stay as they are. */
const renamed = (loc: Loc, api: Api): Loc =>
  (loc[1] === "input" && typeof loc[2] === "string" ? ["body", apiNameOf(api)(loc[2]) ?? loc[2], ...loc.slice(3)] : loc);

/** An InputError about a Cog field, about the API's field instead. */
export function inApiTerms(e: unknown, api: Api): unknown {
  return e instanceof InputError ? new InputError(renamed(e.loc, api), e.message, e.type) : e;
}

/** The input, checked and completed with its defaults; an InputError in the API's names when it does not fit. */
export function checkInput(raw: Record<string, unknown>, check: InputCheck, api: Api): Input {
  const r = check(raw);
  if ("input" in r) return r.input;
  const d = validationDetails(r.errors as never[], "input")[0];
  const [, field, ...rest] = d.loc;
  // The message reads after the field name, as InputError's do ("must be <= 1024"); the Cog name says which
  // part of an API field is wrong when several share it (OpenAI's size: width and height).
  const message = d.msg.slice(d.msg.indexOf(" ") + 1);
  const named = typeof field === "string" ? apiNameOf(api)(field) : undefined;
  throw new InputError(renamed(["body", "input", field, ...rest], api), named && named !== field ? `(${field}) ${message}` : message, d.type);
}

export const dataUrl = (bytes: Buffer, mime = "application/octet-stream") => `data:${mime};base64,${bytes.toString("base64")}`;

/** A form value (always a string) as the table types the field: "20" -> 20 for an integer or number; else as is. */
export function typedValue(key: FieldKey, value: string): unknown {
  const { kind }: FieldSpec = FIELDS[key];
  if ((kind === "integer" || kind === "number") && value.trim() !== "" && Number.isFinite(Number(value))) return Number(value);
  if (kind === "boolean" && (value === "true" || value === "false")) return value === "true";
  return value;
}

/** The seed `k` after `seed`, wrapping within the seed's range (for the k-th of several predictions of one request). */
export const nthSeed = (seed: number, k: number) => (seed + k) % (FIELDS.seed.maximum + 1);

/** An image's size scaled (aspect kept) into the width and height limits, for requests that leave the size to the image. */
export function fitSize(width: number, height: number, limits: FieldLimits): Record<string, number> {
  const w = fieldRange("width", limits) as { minimum: number; maximum: number };
  const h = fieldRange("height", limits) as { minimum: number; maximum: number };
  const down = Math.min(1, w.maximum / width, h.maximum / height);
  const scale = down < 1 ? down : Math.max(1, w.minimum / width, h.minimum / height);
  const fit = (v: number, r: { minimum: number; maximum: number }) => Math.min(r.maximum, Math.max(r.minimum, Math.round(v * scale)));
  return { [cogName("width")]: fit(width, w), [cogName("height")]: fit(height, h) };
}
