// One ajv configuration for every schema the server checks: fastify validates request bodies with it, and the
// OpenAI and AUTOMATIC1111 APIs check the Cog input they build from their requests with the same input schema.
import { Ajv, type ErrorObject, type Options } from "ajv";
import { SCHEMA_ANNOTATIONS, type Input } from "./schema.js";

/**
 * Types are not coerced ("512" is not a width) and defaults are filled in. Formats stay annotations (OpenAPI's
 * "uri" marks file inputs): ajv-formats' URI regex overflows the stack on a data URL of a few MB; patterns check
 * the schemes and URLs are parsed where they are used. Unknown input fields are removed before validation.
 */
export const AJV_OPTIONS: Options = { removeAdditional: false, coerceTypes: false, useDefaults: true, validateFormats: false, keywords: SCHEMA_ANNOTATIONS };

export type InputCheck = (input: Record<string, unknown>) => { input: Input } | { errors: ErrorObject[] };

/**
 * A check of Cog inputs against `schema` (the server's input schema), filling in their defaults. Its errors are
 * ajv's, as fastify's are, so that validationDetails words them alike.
 */
export function inputCheck(schema: object): InputCheck {
  const check = new Ajv(AJV_OPTIONS).compile<Input>(schema);
  return (input) => (check(input) ? { input } : { errors: check.errors ?? [] });
}
