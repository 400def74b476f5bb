// diffusers `scheduler_config.json` → typed configs, missing keys filled with the 0.24 constructors' defaults.
import { join } from "node:path";
import { ConfigError, readJson } from "../weights/config.js";
import { DDIMScheduler } from "./ddim.js";
import { DDPMScheduler } from "./ddpm.js";
import { UnCLIPScheduler } from "./unclip.js";

export const BETA_SCHEDULES = ["linear", "scaled_linear", "squaredcos_cap_v2"] as const;
export const PREDICTION_TYPES = ["epsilon", "sample", "v_prediction"] as const;
export const TIMESTEP_SPACINGS = ["leading", "trailing", "linspace"] as const;
/** DDPM's variance types; "fixed_large_log" is left out: the reference takes the square root of a log there (NaN). */
export const DDPM_VARIANCE_TYPES = ["fixed_small", "fixed_small_log", "fixed_large", "learned", "learned_range"] as const;
export const UNCLIP_VARIANCE_TYPES = ["fixed_small_log", "learned_range"] as const;

export type BetaSchedule = (typeof BETA_SCHEDULES)[number];
export type PredictionType = (typeof PREDICTION_TYPES)[number];
export type TimestepSpacing = (typeof TIMESTEP_SPACINGS)[number];
export type DDPMVarianceType = (typeof DDPM_VARIANCE_TYPES)[number];
export type UnCLIPVarianceType = (typeof UNCLIP_VARIANCE_TYPES)[number];

export interface BetaConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  /** Overrides the schedule when set. */
  trainedBetas: number[] | null;
}

/** How the predicted x_0 is bounded: dynamic thresholding, else clipping to ±clipSampleRange. */
export interface SampleClipConfig {
  clipSample: boolean;
  clipSampleRange: number;
  thresholding: boolean;
  dynamicThresholdingRatio: number;
  sampleMaxValue: number;
}

export interface DDIMConfig extends BetaConfig, SampleClipConfig {
  setAlphaToOne: boolean;
  stepsOffset: number;
  predictionType: PredictionType;
  timestepSpacing: TimestepSpacing;
  rescaleBetasZeroSnr: boolean;
}

export interface DDPMConfig extends BetaConfig, SampleClipConfig {
  varianceType: DDPMVarianceType;
  predictionType: PredictionType;
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
}

export interface UnCLIPConfig {
  numTrainTimesteps: number;
  varianceType: UnCLIPVarianceType;
  clipSample: boolean;
  clipSampleRange: number;
  predictionType: "epsilon" | "sample";
  betaSchedule: "squaredcos_cap_v2";
}

export type SchedulerConfig =
  | { className: "DDIMScheduler"; config: DDIMConfig }
  | { className: "DDPMScheduler"; config: DDPMConfig }
  | { className: "UnCLIPScheduler"; config: UnCLIPConfig };

export const SCHEDULER_CLASSES = ["DDIMScheduler", "DDPMScheduler", "UnCLIPScheduler"] as const;

type Raw = Record<string, unknown>;

/** Typed reads of one raw config, each naming the config and key in its error. */
class Fields {
  constructor(private readonly raw: Raw, private readonly what: string) {}

  private get(key: string): unknown {
    const v = this.raw[key];
    return v === null ? undefined : v;
  }

  private bad(key: string, expected: string): never {
    throw new ConfigError(`${this.what}: "${key}" must be ${expected}, got ${JSON.stringify(this.raw[key])}`);
  }

  num(key: string, dflt: number): number {
    const v = this.get(key) ?? dflt;
    return typeof v === "number" && Number.isFinite(v) ? v : this.bad(key, "a number");
  }

  int(key: string, dflt: number, min: number): number {
    const v = this.num(key, dflt);
    return Number.isInteger(v) && v >= min ? v : this.bad(key, `an integer >= ${min}`);
  }

  bool(key: string, dflt: boolean): boolean {
    const v = this.get(key) ?? dflt;
    return typeof v === "boolean" ? v : this.bad(key, "true or false");
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], dflt: T): T {
    const v = this.get(key) ?? dflt;
    return allowed.includes(v as T) ? (v as T) : this.bad(key, `one of ${allowed.join(", ")}`);
  }

  numbers(key: string): number[] | null {
    const v = this.get(key);
    if (v === undefined) return null;
    return Array.isArray(v) && v.every((x) => typeof x === "number") ? v : this.bad(key, "a list of numbers");
  }
}

function betaFields(f: Fields, dfltSchedule: BetaSchedule): BetaConfig {
  return {
    numTrainTimesteps: f.int("num_train_timesteps", 1000, 1),
    betaStart: f.num("beta_start", 0.0001),
    betaEnd: f.num("beta_end", 0.02),
    betaSchedule: f.oneOf("beta_schedule", BETA_SCHEDULES, dfltSchedule),
    trainedBetas: f.numbers("trained_betas"),
  };
}

function clipFields(f: Fields): SampleClipConfig {
  return {
    clipSample: f.bool("clip_sample", true),
    clipSampleRange: f.num("clip_sample_range", 1.0),
    thresholding: f.bool("thresholding", false),
    dynamicThresholdingRatio: f.num("dynamic_thresholding_ratio", 0.995),
    sampleMaxValue: f.num("sample_max_value", 1.0),
  };
}

export function parseDDIMConfig(raw: Raw): DDIMConfig {
  const f = new Fields(raw, "DDIMScheduler config");
  return {
    ...betaFields(f, "linear"),
    ...clipFields(f),
    setAlphaToOne: f.bool("set_alpha_to_one", true),
    stepsOffset: f.int("steps_offset", 0, 0),
    predictionType: f.oneOf("prediction_type", PREDICTION_TYPES, "epsilon"),
    timestepSpacing: f.oneOf("timestep_spacing", TIMESTEP_SPACINGS, "leading"),
    rescaleBetasZeroSnr: f.bool("rescale_betas_zero_snr", false),
  };
}

export function parseDDPMConfig(raw: Raw): DDPMConfig {
  const f = new Fields(raw, "DDPMScheduler config");
  return {
    ...betaFields(f, "linear"),
    ...clipFields(f),
    varianceType: f.oneOf("variance_type", DDPM_VARIANCE_TYPES, "fixed_small"),
    predictionType: f.oneOf("prediction_type", PREDICTION_TYPES, "epsilon"),
    timestepSpacing: f.oneOf("timestep_spacing", TIMESTEP_SPACINGS, "leading"),
    stepsOffset: f.int("steps_offset", 0, 0),
  };
}

export function parseUnCLIPConfig(raw: Raw): UnCLIPConfig {
  const f = new Fields(raw, "UnCLIPScheduler config");
  return {
    numTrainTimesteps: f.int("num_train_timesteps", 1000, 2),
    varianceType: f.oneOf("variance_type", UNCLIP_VARIANCE_TYPES, "fixed_small_log"),
    clipSample: f.bool("clip_sample", true),
    clipSampleRange: f.num("clip_sample_range", 1.0),
    predictionType: f.oneOf("prediction_type", ["epsilon", "sample"] as const, "epsilon"),
    // The only schedule the reference class accepts.
    betaSchedule: f.oneOf("beta_schedule", ["squaredcos_cap_v2"] as const, "squaredcos_cap_v2"),
  };
}

/** Parses a raw config whose class is given by its `_class_name`. */
export function parseSchedulerConfig(raw: Raw, source = "scheduler config"): SchedulerConfig {
  const className = raw._class_name;
  switch (className) {
    case "DDIMScheduler":
      return { className, config: parseDDIMConfig(raw) };
    case "DDPMScheduler":
      return { className, config: parseDDPMConfig(raw) };
    case "UnCLIPScheduler":
      return { className, config: parseUnCLIPConfig(raw) };
    default:
      throw new ConfigError(
        `${source}: unsupported scheduler class ${JSON.stringify(className)} (supported: ${SCHEDULER_CLASSES.join(", ")})`,
      );
  }
}

/** Reads `<dir>/scheduler_config.json`. */
export function readSchedulerConfig(dir: string): SchedulerConfig {
  const path = join(dir, "scheduler_config.json");
  return parseSchedulerConfig(readJson<Raw>(path), path);
}

export type ReferenceScheduler = DDIMScheduler | DDPMScheduler | UnCLIPScheduler;

export function createScheduler(sc: SchedulerConfig): ReferenceScheduler {
  switch (sc.className) {
    case "DDIMScheduler":
      return new DDIMScheduler(sc.config);
    case "DDPMScheduler":
      return new DDPMScheduler(sc.config);
    case "UnCLIPScheduler":
      return new UnCLIPScheduler(sc.config);
  }
}

/** The scheduler described by `<dir>/scheduler_config.json`, its class picked from `_class_name`. */
export function loadScheduler(dir: string): ReferenceScheduler {
  return createScheduler(readSchedulerConfig(dir));
}
