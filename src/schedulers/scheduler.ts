// The interface every denoising scheduler implements, so pipelines can drive any of them the same way, and
// what the registry needs to know of each one.
import { join } from "node:path";
import type { HostTensor } from "../runtime/host-tensor.js";
import { readConfigAs, type ConfigClass } from "./config.js";
import type { TimestepChain } from "./chain.js";

export interface Scheduler {
  /** Short name: "ddim", "ddpm", "unclip", "dpmpp_2m". */
  readonly name: string;
  readonly numTrainTimesteps: number;
  /** Standard deviation of the initial noise (the pipelines multiply their start latents by it). */
  readonly initNoiseSigma: number;
  /** The chain of `numInferenceSteps` timesteps, first to last, and the step that walks it. */
  chain(numInferenceSteps: number): TimestepChain;
  /** Forward-diffuses clean samples to `timesteps` (one per batch item, or one for all). */
  addNoise(original: HostTensor, noise: Float32Array, timesteps: readonly number[]): Float32Array;
}

/** Where a decoder scheduler is configured from. */
export interface DecoderFolders {
  /** The decoder repo it runs in. */
  repoDir: string;
  /** A text-to-image decoder that may lend a config the repo lacks (the UNets share their training schedule). */
  textToImageDir?: string;
  /** Told, in a line, when the config is not the repo's own. */
  onNote?: (note: string) => void;
}

/** One scheduler as the registry (SCHEDULERS in index.ts) knows it: how it is configured and built. */
export interface SchedulerDefinition<C> {
  /** A port of a diffusers class: the class whose `scheduler_config.json` it reads as it is. */
  readonly reference?: ConfigClass<C>;
  /** A decoder scheduler, which users pick by name: its config, read from a decoder repo's folders. */
  readonly decoderConfig?: (from: DecoderFolders) => C;
  readonly create: (config: C) => Scheduler;
}

/** The definition of a port of `reference` that decoder repos configure in `folder` (with a config of that class). */
export function decoderReference<C>(reference: ConfigClass<C>, folder: string, create: (config: C) => Scheduler) {
  return {
    reference,
    decoderConfig: ({ repoDir }: DecoderFolders) => readConfigAs(join(repoDir, folder), reference),
    create,
  } satisfies SchedulerDefinition<C>;
}
