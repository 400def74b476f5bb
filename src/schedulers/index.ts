// Schedulers: the three reference ones (DDIM, DDPM, UnCLIP) and our DPM-Solver++ 2M, plus the decoder factory.
import { join } from "node:path";
import { ConfigError } from "../weights/config.js";
import { readSchedulerConfig, createScheduler, type SchedulerConfig } from "./config.js";
import { DPMSolverPP2MScheduler } from "./dpmpp2m.js";
import type { Scheduler } from "./scheduler.js";

export * from "./scheduler.js";
export * from "./config.js";
export { DDIMScheduler } from "./ddim.js";
export { DDPMScheduler } from "./ddpm.js";
export { UnCLIPScheduler } from "./unclip.js";
export { DPMSolverPP2MScheduler, type DPMSolverPP2MConfig } from "./dpmpp2m.js";

/** Decoder schedulers a user can pick. */
export const SCHEDULER_NAMES = ["ddim", "ddpm", "dpmpp_2m"] as const;
export type SchedulerName = (typeof SCHEDULER_NAMES)[number];

/**
 * The decoder scheduler `name` from a decoder repo's configs: "ddim" is `scheduler/` (DDIMScheduler), "ddpm" is
 * `ddpm_scheduler/` (DDPMScheduler), "dpmpp_2m" takes the betas and timestep spacing of `scheduler/` (the DDIM config).
 */
export function createDecoderScheduler(name: string, repoDir: string): Scheduler {
  const read = <K extends SchedulerConfig["className"]>(folder: string, className: K) => {
    const sc = readSchedulerConfig(join(repoDir, folder));
    if (sc.className !== className) throw new ConfigError(`${repoDir}/${folder}: scheduler "${name}" needs a ${className} config, found ${sc.className}`);
    return sc as Extract<SchedulerConfig, { className: K }>;
  };
  switch (name) {
    case "ddim":
      return createScheduler(read("scheduler", "DDIMScheduler"));
    case "ddpm":
      return createScheduler(read("ddpm_scheduler", "DDPMScheduler"));
    case "dpmpp_2m": {
      const { config } = read("scheduler", "DDIMScheduler");
      if (config.rescaleBetasZeroSnr) throw new ConfigError(`${repoDir}/scheduler: dpmpp_2m does not support rescale_betas_zero_snr`);
      const { numTrainTimesteps, betaStart, betaEnd, betaSchedule, trainedBetas, timestepSpacing, stepsOffset } = config;
      return new DPMSolverPP2MScheduler({ numTrainTimesteps, betaStart, betaEnd, betaSchedule, trainedBetas, timestepSpacing, stepsOffset });
    }
    default:
      throw new ConfigError(`unknown scheduler "${name}" (choose one of ${SCHEDULER_NAMES.join(", ")})`);
  }
}
