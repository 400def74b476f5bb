// What the schedulers' `scheduler_config.json` files share: typed reads of raw keys (missing ones filled with
// the diffusers 0.24 constructors' defaults), the beta and x_0-clipping fields, and reading a config file.
import { join } from "node:path";
import { ConfigError, readJson } from "../weights/config.js";

export const BETA_SCHEDULES = ["linear", "scaled_linear", "squaredcos_cap_v2"] as const;
export const PREDICTION_TYPES = ["epsilon", "sample", "v_prediction"] as const;
export const TIMESTEP_SPACINGS = ["leading", "trailing", "linspace"] as const;

export type BetaSchedule = (typeof BETA_SCHEDULES)[number];
export type PredictionType = (typeof PREDICTION_TYPES)[number];
export type TimestepSpacing = (typeof TIMESTEP_SPACINGS)[number];

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

/** How set_timesteps spaces the inference timesteps (spacing.ts). */
export interface SpacingConfig {
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
}

/** The fields the DDIM and DDPM configs share. */
export interface DiffusionConfig extends BetaConfig, SampleClipConfig, SpacingConfig {
  predictionType: PredictionType;
}

/** A scheduler_config.json as read. */
export type RawConfig = Record<string, unknown>;

/** The keys DDIMScheduler and DDPMScheduler share, with their constructors' defaults (diffusers 0.24). */
export const DIFFUSION_DEFAULTS: Readonly<RawConfig> = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: "linear",
  trained_betas: null,
  clip_sample: true,
  prediction_type: "epsilon",
  thresholding: false,
  dynamic_thresholding_ratio: 0.995,
  clip_sample_range: 1.0,
  sample_max_value: 1.0,
  timestep_spacing: "leading",
  steps_offset: 0,
};

/**
 * Typed reads of one raw config, each naming the config and key in its error; a key the file lacks (or sets to
 * null) takes its value in `defaults`, the class's constructor defaults by config key.
 */
export class Fields {
  constructor(private readonly raw: RawConfig, private readonly defaults: Readonly<RawConfig>, private readonly what: string) {}

  private get(key: string): unknown {
    const v = this.raw[key] ?? this.defaults[key];
    return v === null ? undefined : v;
  }

  private bad(key: string, expected: string): never {
    throw new ConfigError(`${this.what}: "${key}" must be ${expected}, got ${JSON.stringify(this.raw[key])}`);
  }

  num(key: string): number {
    const v = this.get(key);
    return typeof v === "number" && Number.isFinite(v) ? v : this.bad(key, "a number");
  }

  int(key: string, min: number): number {
    const v = this.num(key);
    return Number.isInteger(v) && v >= min ? v : this.bad(key, `an integer >= ${min}`);
  }

  bool(key: string): boolean {
    const v = this.get(key);
    return typeof v === "boolean" ? v : this.bad(key, "true or false");
  }

  oneOf<T extends string>(key: string, allowed: readonly T[]): T {
    const v = this.get(key);
    return allowed.includes(v as T) ? (v as T) : this.bad(key, `one of ${allowed.join(", ")}`);
  }

  numbers(key: string): number[] | null {
    const v = this.get(key);
    if (v === undefined) return null;
    return Array.isArray(v) && v.every((x) => typeof x === "number") ? v : this.bad(key, "a list of numbers");
  }
}

function betaFields(f: Fields): BetaConfig {
  return {
    numTrainTimesteps: f.int("num_train_timesteps", 1),
    betaStart: f.num("beta_start"),
    betaEnd: f.num("beta_end"),
    betaSchedule: f.oneOf("beta_schedule", BETA_SCHEDULES),
    trainedBetas: f.numbers("trained_betas"),
  };
}

function clipFields(f: Fields): SampleClipConfig {
  return {
    clipSample: f.bool("clip_sample"),
    clipSampleRange: f.num("clip_sample_range"),
    thresholding: f.bool("thresholding"),
    dynamicThresholdingRatio: f.num("dynamic_thresholding_ratio"),
    sampleMaxValue: f.num("sample_max_value"),
  };
}

function spacingFields(f: Fields): SpacingConfig {
  return {
    timestepSpacing: f.oneOf("timestep_spacing", TIMESTEP_SPACINGS),
    stepsOffset: f.int("steps_offset", 0),
  };
}

export function diffusionFields(f: Fields): DiffusionConfig {
  return {
    ...betaFields(f),
    ...clipFields(f),
    ...spacingFields(f),
    predictionType: f.oneOf("prediction_type", PREDICTION_TYPES),
  };
}

/** How a diffusers scheduler class's config is recognised (`_class_name`) and parsed. */
export interface ConfigClass<C> {
  readonly className: string;
  parse(raw: RawConfig): C;
}

/** Reads `<dir>/scheduler_config.json`. */
export function readRawConfig(dir: string): { path: string; raw: RawConfig } {
  const path = join(dir, "scheduler_config.json");
  return { path, raw: readJson<RawConfig>(path) };
}

/** `<dir>/scheduler_config.json` parsed as a config of `cls`; a config of another class is refused. */
export function readConfigAs<C>(dir: string, cls: ConfigClass<C>): C {
  const { path, raw } = readRawConfig(dir);
  if (raw._class_name !== cls.className) {
    throw new ConfigError(`${path}: needs a ${cls.className} config, found ${JSON.stringify(raw._class_name)}`);
  }
  return cls.parse(raw);
}
