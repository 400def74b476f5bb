// Error bodies in the shape Cog (FastAPI) uses: {"detail": "..."} or, for invalid input, {"detail": [{loc, msg, type}]}.
import type { FastifySchemaValidationError } from "fastify";

export interface Detail {
  loc: (string | number)[];
  msg: string;
  type: string;
}

/** "input.width" for ["body", "input", "width"]; "body" for the body itself. */
const fieldName = (loc: (string | number)[]) => loc.slice(1).join(".") || String(loc[0]);

/** Input that passed the schema but cannot be used (undecodable image, missing field for the task...): a 422.
 *  The message reads after the field name: "is required for task text2img". */
export class InputError extends Error {
  constructor(readonly loc: (string | number)[], message: string, readonly type = "value_error") {
    super(message);
  }

  get detail(): Detail {
    return { loc: this.loc, msg: `${fieldName(this.loc)} ${this.message}`, type: this.type };
  }
}

/** ajv's errors as Cog details: loc is the path into the request (["body", "input", "width"]). */
export function validationDetails(errors: FastifySchemaValidationError[], context: string): Detail[] {
  return errors.map((e) => {
    const loc: (string | number)[] = [context, ...e.instancePath.split("/").slice(1).map((s) => (/^\d+$/.test(s) ? Number(s) : s))];
    const p = e.params as Record<string, unknown>;
    let msg = e.message ?? "is invalid";
    if (e.keyword === "required") {
      loc.push(p.missingProperty as string);
      msg = "is required";
    } else if (e.keyword === "additionalProperties") {
      loc.push(p.additionalProperty as string);
      msg = "is not a known field";
    } else if (e.keyword === "enum") {
      msg = `must be one of ${(p.allowedValues as unknown[]).join(", ")}`;
    }
    return { loc, msg: `${fieldName(loc)} ${msg}`, type: `${e.keyword === "type" ? "type_error" : "value_error"}.${e.keyword}` };
  });
}
