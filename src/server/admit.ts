// The one gate every API of the server (Cog, and the OpenAI and AUTOMATIC1111 ones) passes a request through,
// once it is in the library's terms: the field table's checks with this server's limits (serve --max-size,
// --max-outputs, --max-steps) and defaults (serve --precision), the seed drawn, and what this server can run.
// Each API reports a RequestError in its own error shape, naming the field by its own name (apiNames(api, error.field)).
import type { FieldDefaults, FieldLimits, GenerateRequest, OutputRequest, ResolvedOutput, ResolvedRequest } from "../request/fields.js";
import { RequestError, resolveOutput, resolveRequest } from "../request/resolve.js";

export interface AdmitOptions {
  limits: FieldLimits;
  defaults?: FieldDefaults;
  /** Whether the inpainting model is loaded. */
  canInpaint: boolean;
}

export interface Admitted {
  request: ResolvedRequest;
  output: ResolvedOutput;
}

export function admitRequest(request: GenerateRequest, output: OutputRequest, o: AdmitOptions): Admitted {
  const resolved = { request: resolveRequest(request, { limits: o.limits, defaults: o.defaults }), output: resolveOutput(output) };
  if (resolved.request.task === "inpaint" && !o.canInpaint) {
    throw RequestError.of("task", "inpaint needs the inpainting model (kandinsky-2-1-inpaint), which this server has not loaded");
  }
  return resolved;
}
