// /openapi.json: Cog's document layout, its Input component being the very schema requests are validated with
// (this server's limits applied).
import { predictionRequestSchema, WEBHOOK_EVENTS } from "./schema.js";

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object, description = "Successful Response") => ({ description, content: { "application/json": { schema } } });
const idParam = { name: "prediction_id", in: "path", required: true, schema: { type: "string", title: "Prediction ID" } };
const validationError = json(ref("HTTPValidationError"), "Validation Error");

/** The document, `input` being the input schema requests are validated with. */
export function openApiDocument(version: string, input: object): object {
  const request = predictionRequestSchema(ref("Input"));
  const create = (summary: string, params: object[]) => ({
    summary,
    description: "Synchronous by default; with `Prefer: respond-async` the reply is 202 and updates go to the webhook; " +
      "with `Accept: text/event-stream` the reply is coglet's event stream (start, output, log, metric, completed).",
    parameters: [...params, { name: "prefer", in: "header", required: false, schema: { type: "string" } }],
    requestBody: { required: true, content: { "application/json": { schema: ref("PredictionRequest") } } },
    responses: {
      200: json(ref("PredictionResponse")),
      202: json(ref("PredictionResponse"), "Accepted (Prefer: respond-async)"),
      409: json({}, "The queue is full"),
      503: json({}, "The models are not loaded yet"),
      422: validationError,
    },
  });
  const get = (summary: string, schema: object, params: object[] = []) => ({ summary, parameters: params, responses: { 200: json(schema) } });
  return {
    openapi: "3.1.0",
    info: { title: "Kandinsky 2.1", version },
    paths: {
      "/": { get: get("Root", { type: "object" }) },
      "/health-check": { get: get("Healthcheck", { type: "object" }) },
      "/predictions": { post: create("Predict", []) },
      "/predictions/{prediction_id}": {
        put: create("Predict Idempotent", [idParam]),
        get: get("Get a prediction", ref("PredictionResponse"), [idParam]),
      },
      "/predictions/{prediction_id}/cancel": { post: get("Cancel", ref("PredictionResponse"), [idParam]) },
      "/shutdown": { post: get("Start a graceful shutdown: queued and running predictions finish, new ones are refused", { type: "object" }) },
      "/outputs/{name}": {
        get: { summary: "An output image (with the token, or a URL the OpenAI API signed)", parameters: [{ name: "name", in: "path", required: true, schema: { type: "string" } }],
          responses: { 200: { description: "The image", content: { "image/png": {}, "image/jpeg": {}, "image/webp": {} } } } },
      },
      "/predictions/{prediction_id}/events": {
        get: { summary: "Server-sent events: start, progress, logs, output, completed", parameters: [idParam],
          responses: { 200: { description: "An event stream", content: { "text/event-stream": {} } } } },
      },
    },
    components: {
      schemas: {
        Input: input,
        Output: { title: "Output", type: "array", items: { type: "string", format: "uri" } },
        Status: { title: "Status", type: "string", enum: ["starting", "processing", "succeeded", "canceled", "failed"] },
        WebhookEvent: { title: "WebhookEvent", type: "string", enum: WEBHOOK_EVENTS },
        PredictionRequest: request,
        PredictionResponse: {
          title: "PredictionResponse",
          type: "object",
          properties: {
            id: { type: "string" },
            input: ref("Input"),
            output: ref("Output"),
            logs: { type: "string" },
            error: { type: ["string", "null"] },
            status: ref("Status"),
            created_at: { type: "string", format: "date-time" },
            started_at: { type: ["string", "null"], format: "date-time" },
            completed_at: { type: ["string", "null"], format: "date-time" },
            metrics: { type: "object", properties: { predict_time: { type: "number" }, seed: { type: "integer" } } },
          },
        },
        ValidationError: {
          title: "ValidationError",
          type: "object",
          required: ["loc", "msg", "type"],
          properties: { loc: { type: "array", items: { type: ["string", "integer"] } }, msg: { type: "string" }, type: { type: "string" } },
        },
        HTTPValidationError: { title: "HTTPValidationError", type: "object", properties: { detail: { type: "array", items: ref("ValidationError") } } },
      },
    },
  };
}
