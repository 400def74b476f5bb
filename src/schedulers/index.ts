// Schedulers: the three reference ones (DDIM, DDPM, UnCLIP) and our DPM-Solver++ 2M, and the registry that
// names them. Everything that picks a scheduler derives from SCHEDULERS: the names users choose for the
// decoder, the decoder factory and the `_class_name` dispatch of scheduler_config.json. Adding a scheduler is
// its file (config, class and definition) and one line there.
import { ConfigError } from "../weights/config.js";
import { readRawConfig, type RawConfig } from "./config.js";
import type { DecoderFolders, Scheduler, SchedulerDefinition } from "./scheduler.js";
import { DDIM } from "./ddim.js";
import { DDPM } from "./ddpm.js";
import { UNCLIP } from "./unclip.js";
import { DPMPP_2M } from "./dpmpp2m.js";

export * from "./scheduler.js";
export * from "./config.js";
export { TimestepChain, type ChainStep, type StepResult } from "./chain.js";
export { DDIMScheduler, parseDDIMConfig, type DDIMConfig } from "./ddim.js";
export { DDPMScheduler, parseDDPMConfig, DDPM_VARIANCE_TYPES, type DDPMConfig, type DDPMVarianceType } from "./ddpm.js";
export { UnCLIPScheduler, parseUnCLIPConfig, UNCLIP_VARIANCE_TYPES, type UnCLIPConfig, type UnCLIPVarianceType } from "./unclip.js";
export { DPMSolverPP2MScheduler, type DPMSolverPP2MConfig } from "./dpmpp2m.js";

/** Every scheduler, by its name (`Scheduler.name`). */
const SCHEDULERS = {
  ddim: DDIM,
  ddpm: DDPM,
  unclip: UNCLIP,
  dpmpp_2m: DPMPP_2M,
} as const;

type Registry = typeof SCHEDULERS;
/** The decoder schedulers: those with a decoder config. */
export type SchedulerName = { [K in keyof Registry]: Registry[K] extends { decoderConfig: unknown } ? K : never }[keyof Registry];

const definitions = Object.entries(SCHEDULERS) as [keyof Registry, SchedulerDefinition<any>][];
const classNames = definitions.flatMap(([, d]) => (d.reference ? [d.reference.className] : []));

/** Decoder schedulers a user can pick. */
export const SCHEDULER_NAMES = definitions.filter(([, d]) => d.decoderConfig).map(([name]) => name) as readonly SchedulerName[];

/** The scheduler of the diffusers class a raw scheduler_config.json names (`_class_name`), so configured. */
export function schedulerFromConfig(raw: RawConfig, source = "scheduler config"): Scheduler {
  const found = definitions.find(([, d]) => d.reference && d.reference.className === raw._class_name)?.[1];
  if (!found?.reference) {
    throw new ConfigError(`${source}: unsupported scheduler class ${JSON.stringify(raw._class_name)} (supported: ${classNames.join(", ")})`);
  }
  return found.create(found.reference.parse(raw));
}

/** The scheduler described by `<dir>/scheduler_config.json`, its class picked from `_class_name`. */
export function loadScheduler(dir: string): Scheduler {
  const { path, raw } = readRawConfig(dir);
  return schedulerFromConfig(raw, path);
}

/**
 * The decoder scheduler `name`, configured from a decoder repo's folders as its definition says: "ddim" from
 * `scheduler/`, "ddpm" from `ddpm_scheduler/` (for a repo without one, see ddpm.ts: `from.textToImageDir` may lend
 * its config, `from.onNote` hears which was used), "dpmpp_2m" from the betas and spacing of `scheduler/`.
 */
export function createDecoderScheduler(name: string, repoDir: string, from: Omit<DecoderFolders, "repoDir"> = {}): Scheduler {
  const d: SchedulerDefinition<any> | undefined = Object.hasOwn(SCHEDULERS, name) ? SCHEDULERS[name as keyof Registry] : undefined;
  if (!d?.decoderConfig) throw new ConfigError(`unknown scheduler "${name}" (choose one of ${SCHEDULER_NAMES.join(", ")})`);
  return d.create(d.decoderConfig({ ...from, repoDir }));
}
