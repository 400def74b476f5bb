// kandinsky-ts: the public library API.
export { Kandinsky, toImages, type GenerateResult, type RunControl } from "./pipelines/kandinsky.js";
export {
  FIELDS, FIELD_KEYS, TASKS, LIMITS, fieldRange, COG_NAMES, OPENAI_NAMES, A1111_NAMES, type FieldSpec, type FieldKey,
  type GenerateRequest, type ResolvedRequest, type OutputRequest, type ResolvedOutput, type MixItem, type Task, type FieldLimits,
} from "./request/fields.js";
export { resolveRequest, resolveOutput, RequestError } from "./request/resolve.js";
export { Engine, EngineCrashedError, type JobControl } from "./engine/engine.js";
export { buildOptionsFor, type EngineOptions, type ModelDirs } from "./pipelines/components.js";
export { PriorPipeline, interpolate } from "./pipelines/prior.js";
export { DecoderPipeline } from "./pipelines/decoder.js";
export { CancelledError, type ProgressEvent } from "./pipelines/progress.js";
export { SeededNoise, ReplayNoise, GeneratorListNoise, randomSeed, type NoiseSource } from "./noise/noise-source.js";
export { TorchGenerator } from "./noise/torch-generator.js";
export { resolveProvider, PROVIDERS, type Provider } from "./runtime/session.js";
export { decodeImage, decodeMask, encodeImage, type ImageFormat } from "./image/io.js";
export type { RgbImage, GrayImage } from "./image/rgb.js";
export { resolveModel } from "./hub/resolve.js";
export { checkRole, identifyFolder, RoleError, ROLE_MODELS, ROLES, type Role } from "./pipelines/roles.js";
export { SCHEDULER_NAMES, type SchedulerName } from "./schedulers/index.js";
