// The prediction API's schemas. The input schema is derived from the request-field table with the server's
// limits and defaults applied: fastify (ajv) validates requests with it and /openapi.json publishes it as the Input
// component, which the web form reads its limits and defaults from.
import { FIELD_KEYS, FIELDS, fieldDefault, fieldRange, type FieldDefaults, type FieldKey, type FieldLimits, type FieldSpec } from "../request/fields.js";

export const WEBHOOK_EVENTS = ["start", "output", "logs", "completed"] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** Prediction ids name files under the data folder, so they are kept to a safe alphabet and length. */
export const ID_MAX_LENGTH = 128;
const ID_PATTERN = `^[A-Za-z0-9_-]{1,${ID_MAX_LENGTH}}$`;

const imageUrl = (description: string) =>
  ({ type: "string", format: "uri", pattern: "^(data:|https?://)", description });

const sentence = (text: string) => text[0].toUpperCase() + text.slice(1);


/** A field's Cog properties (the mix field has three: its texts, images and weights). */
function properties(key: FieldKey, limits: FieldLimits, defaults: FieldDefaults): [string, object][] {
  const f: FieldSpec = FIELDS[key];
  const names = typeof f.cog === "string" ? [f.cog] : f.cog;
  const common = { ...(f.tasks ? { "x-tasks": f.tasks } : {}), ...(f.form ? { "x-form": f.form } : {}) };
  const description = sentence(f.description);
  const { limitedBy: _, ...range } = fieldRange(key, limits);
  const value = (): object => {
    switch (f.kind) {
      case "integer":
      case "number": return { type: f.kind, ...range };
      case "string": return { type: "string", maxLength: f.maxLength };
      case "boolean": return { type: "boolean" };
      case "enum": return { type: "string", enum: f.values };
      case "image":
      case "mask": return imageUrl(`${description}: a data URL or an http(s) URL`);
      case "mix": throw new Error("unreachable");
    }
  };
  if (f.kind === "mix") {
    const [texts, images, weights] = names;
    return [
      [texts, { type: "array", maxItems: f.maxItems, items: { type: "string", maxLength: f.maxLength }, description: "Mix: texts to blend", ...common }],
      [images, { type: "array", maxItems: f.maxItems, items: imageUrl("an image to blend"), description: "Mix: images to blend (data URLs or http(s) URLs)", ...common }],
      [weights, { type: "array", maxItems: f.maxItems, items: { type: "number", ...f.weights }, description: "Mix: one weight per text, then one per image; equal weights when absent", ...common }],
    ];
  }
  const d = fieldDefault(key, defaults);
  const dflt = d !== undefined && typeof d !== "function" ? { default: d } : {};
  return [[names[0], { description, ...value(), ...dflt, ...(f.step ? { "x-step": f.step } : {}), ...common }]];
}

/**
 * A prediction's input, as this server takes it: the table's fields under their Cog names, ranges narrowed by
 * `limits`, defaults replaced by `defaults`.
 */
export function inputSchema(limits: FieldLimits = {}, defaults: FieldDefaults = {}) {
  // Property order is the order clients (and Replicate's UI, through x-order) show them in.
  const props = FIELD_KEYS.flatMap((k) => properties(k, limits, defaults));
  return {
    title: "Input",
    type: "object",
    additionalProperties: false,
    properties: Object.fromEntries(props.map(([k, v], i) => [k, { title: k, ...v, "x-order": i }])),
  };
}

/** Schema keywords of ours, annotations only (ajv is told of them). */
export const SCHEMA_ANNOTATIONS = ["x-order", "x-tasks", "x-step", "x-form"];

/** A validated input: what the input schema admits, with its defaults filled in, by Cog name. */
export type Input = Record<string, unknown>;

const httpUrl = { type: "string", format: "uri", pattern: "^https?://" };

/**
 * The body of POST /predictions and PUT /predictions/{id}. Unknown top-level fields (version) are ignored and
 * unknown input fields removed (with a warning in the prediction's logs), as coglet does.
 */
export const predictionRequestSchema = (input: object) => ({
  title: "PredictionRequest",
  type: "object",
  required: ["input"],
  properties: {
    id: { type: "string", pattern: ID_PATTERN },
    input,
    webhook: { ...httpUrl, maxLength: 65536 },
    webhook_events_filter: { type: "array", items: { type: "string", enum: WEBHOOK_EVENTS }, default: [...WEBHOOK_EVENTS] },
    output_file_prefix: httpUrl,
    // Cog hands it to the predictor; this one has no use for it.
    context: { type: "object", additionalProperties: { type: "string" } },
  },
});

export interface PredictionRequest {
  id?: string;
  input: Input;
  webhook?: string;
  webhook_events_filter: WebhookEvent[];
  output_file_prefix?: string;
}

export const ID_PARAMS_SCHEMA = {
  type: "object",
  properties: { id: { type: "string", pattern: ID_PATTERN } },
};
