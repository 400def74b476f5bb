// The OpenAI images API's request fields -> the Cog input fields they set, by the request-field table's OpenAI
// names (its own ones, and the extra body fields Kandinsky's options take).
import { FIELDS, OPENAI_NAMES, type FieldSpec } from "../../request/fields.js";
import { cogName, typedValue } from "../api-input.js";
import { InputError } from "../errors.js";

/** Fields OpenAI has that this model has no use for: accepted, and ignored. */
const IGNORED = ["model", "user", "quality", "style", "background", "moderation", "input_fidelity", "partial_images"];
export const RESPONSE_FORMATS = ["url", "b64_json"] as const;
export type ResponseFormat = (typeof RESPONSE_FORMATS)[number];
const extras = Object.entries(OPENAI_NAMES).filter(([, keys]) => (FIELDS[keys[0]] as FieldSpec).openai?.extra).map(([name]) => name);

const SIZE = /^(\d+)x(\d+)$/;

export interface OpenAiRequest {
  /** The Cog fields it sets (not yet checked). */
  cog: Record<string, unknown>;
  /** `size` was absent or "auto". */
  autoSize: boolean;
  /** Absent: both, so that clients expecting either find theirs. */
  responseFormat?: ResponseFormat;
}

/**
 * The fields of a JSON body, or of a form (`fromForm`: values are strings, typed as the table types the field)
 * -> the Cog fields they set. Images are files (the routes take them); an unknown field is refused, as OpenAI
 * does; nulls count as absent.
 */
export function fromOpenAi(values: Record<string, unknown>, fromForm: boolean): OpenAiRequest {
  const r: OpenAiRequest = { cog: {}, autoSize: true };
  for (const [name, v] of Object.entries(values)) {
    if (v === null || v === undefined || IGNORED.includes(name)) continue;
    const keys = OPENAI_NAMES[name];
    if (name === "size") {
      if (v === "auto") continue;
      const m = typeof v === "string" ? SIZE.exec(v) : null;
      if (!m) throw new InputError(["body", name], `must be WIDTHxHEIGHT (for example 512x512) or auto, got ${JSON.stringify(v)}`);
      keys.forEach((key, i) => (r.cog[cogName(key)] = Number(m[i + 1])));
      r.autoSize = false;
    } else if (name === "response_format") {
      if (!RESPONSE_FORMATS.includes(v as ResponseFormat)) throw new InputError(["body", name], `must be one of ${RESPONSE_FORMATS.join(", ")}`);
      r.responseFormat = v as ResponseFormat;
    } else if (name === "stream") {
      if (v === true || v === "true") throw new InputError(["body", name], "is not supported: the images are returned when they are done");
    } else if (keys?.length === 1 && !["image", "mask"].includes((FIELDS[keys[0]] as FieldSpec).kind)) {
      r.cog[cogName(keys[0])] = fromForm && typeof v === "string" ? typedValue(keys[0], v) : v;
    } else {
      throw new InputError(["body", name], `is not a parameter of this endpoint (Kandinsky's options go as ${extras.join(", ")})`, "unknown_parameter");
    }
  }
  return r;
}
