// A schema-valid Cog input -> the library's request: fields by their Cog names (the table's), images fetched
// and decoded, then admitted (admit.ts: every check of the table, this server's limits), each failure naming
// its Cog field.
import { decodeImage, decodeMask, ImageTooLargeError } from "../image/io.js";
import { apiNames, COG_NAMES, FIELD_KEYS, FIELDS, type FieldKey, type FieldSpec, type MixItem } from "../request/fields.js";
import { RequestError } from "../request/resolve.js";
import { admitRequest, type AdmitOptions, type Admitted } from "./admit.js";
import { InputError } from "./errors.js";
import { readImageUrl } from "./image-url.js";
import type { Input } from "./schema.js";
import type { UrlPolicy } from "./url-policy.js";

type Loc = (string | number)[];

export interface InputOptions extends AdmitOptions {
  /** Largest image input, read from its header before it is decoded. */
  maxInputPixels: number;
  urlPolicy: UrlPolicy;
}

type Decode<T> = (b: Uint8Array, o: { maxPixels: number }) => Promise<T>;

/** A decoder's failure on the image input at `loc`, in words for the client. */
export function undecodable(e: unknown, loc: Loc): InputError {
  if (e instanceof ImageTooLargeError) return new InputError(loc, `${e.message} (--max-input-pixels)`);
  return new InputError(loc, "is not an image this server can read (PNG, JPEG, WebP, GIF, TIFF, AVIF)");
}

async function load<T>(url: string, loc: Loc, decode: Decode<T>, o: InputOptions): Promise<T> {
  let bytes: Uint8Array;
  try {
    bytes = await readImageUrl(url, o.urlPolicy);
  } catch (e) {
    throw new InputError(loc, (e as Error).message);
  }
  try {
    return await decode(bytes, { maxPixels: o.maxInputPixels });
  } catch (e) {
    throw undecodable(e, loc);
  }
}

/** A Cog input's loc: ["body", "input", name]. */
const at = (name: string): Loc => ["body", "input", name];

/** Other values the Cog API takes for a field's, by Cog name: Replicate's task name for img2img. */
const VALUE_ALIASES: Readonly<Record<string, Readonly<Record<string, string>>>> = { task: { text_guided_img2img: "img2img" } };

/**
 * Before the schema sees a Cog input: replaces the aliases of values (VALUE_ALIASES), and removes the fields
 * that have no Cog name in the table (coglet drops them rather than refusing the prediction), naming them for a
 * warning.
 */
export function normalizeInput(input: unknown): string[] {
  if (typeof input !== "object" || input === null || Array.isArray(input)) return [];
  const fields = input as Record<string, unknown>;
  for (const [name, aliases] of Object.entries(VALUE_ALIASES)) {
    const v = fields[name];
    if (typeof v === "string" && Object.hasOwn(aliases, v)) fields[name] = aliases[v];
  }
  const unknown = Object.keys(fields).filter((k) => !Object.hasOwn(COG_NAMES, k));
  for (const k of unknown) delete fields[k];
  return unknown;
}

/**
 * A schema-valid input in the library's terms (images fetched and decoded), admitted with this server's limits.
 * Every failure is an InputError naming the Cog field.
 */
export async function toGenerateRequest(input: Input, o: InputOptions): Promise<Admitted> {
  const values: Record<string, unknown> = {};
  for (const key of FIELD_KEYS) {
    const f: FieldSpec = FIELDS[key];
    const v = typeof f.cog === "string" ? input[f.cog] : undefined;
    if (v === undefined) continue;
    const name = f.cog as string;
    values[key] = f.kind === "image" ? await load(v as string, at(name), decodeImage, o) : f.kind === "mask" ? await load(v as string, at(name), decodeMask, o) : v;
  }
  const mixNames = apiNames("cog", "mix");
  if (mixNames.some((n) => input[n] !== undefined)) values.mix = await mixItems(input, o);
  const group = (g: FieldSpec["group"]) => Object.fromEntries(Object.entries(values).filter(([k]) => (FIELDS[k as FieldKey] as FieldSpec).group === g));
  try {
    return admitRequest(group("request"), group("output"), o);
  } catch (e) {
    if (!(e instanceof RequestError) || !e.field || !e.problem) throw e;
    const names = apiNames("cog", e.field);
    throw new InputError(at(names.find((n) => input[n] !== undefined) ?? names[0]), e.problem);
  }
}

async function mixItems(input: Input, o: InputOptions): Promise<MixItem[]> {
  const [textsName, imagesName, weightsName] = apiNames("cog", "mix");
  const texts = (input[textsName] ?? []) as string[];
  const urls = (input[imagesName] ?? []) as string[];
  const n = texts.length + urls.length;
  const weights = (input[weightsName] ?? new Array<number>(n).fill(1 / n)) as number[];
  if (weights.length !== n) {
    throw new InputError(at(weightsName), `must hold one weight per text and image: ${n} (${texts.length} texts, ${urls.length} images), got ${weights.length}`);
  }
  const images = await Promise.all(urls.map((u, i) => load(u, ["body", "input", imagesName, i], decodeImage, o)));
  return [
    ...texts.map((text, i) => ({ text, weight: weights[i] })),
    ...images.map((im, i) => ({ image: im, weight: weights[texts.length + i] })),
  ];
}
