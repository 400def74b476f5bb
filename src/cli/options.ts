// Option parsers and the generation options the image commands share. Parsers only check the form of a value
// (an integer, a number); ranges are checked by the library's `validate`, so the CLI and the API agree.
import { InvalidArgumentError, Option, type Command } from "commander";
import { DEFAULTS } from "../pipelines/kandinsky.js";
import { SCHEDULER_NAMES, type SchedulerName } from "../schedulers/index.js";
import type { ImageFormat } from "../image/io.js";
import { PRECISIONS, type Precision } from "../runtime/int8.js";

export function integer(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isSafeInteger(n)) throw new InvalidArgumentError("expected an integer");
  return n;
}

export function positiveInteger(value: string): number {
  const n = integer(value);
  if (n < 1) throw new InvalidArgumentError("expected an integer >= 1");
  return n;
}

export function number(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError("expected a number");
  return n;
}

export function nonNegativeInteger(value: string): number {
  const n = integer(value);
  if (n < 0) throw new InvalidArgumentError("expected an integer >= 0");
  return n;
}

export const FORMATS: readonly ImageFormat[] = ["png", "jpeg", "webp"];

/** What every image command parses into. */
export interface GenerationOptions {
  output?: string;
  width: number;
  height: number;
  steps: number;
  priorSteps: number;
  guidanceScale: number;
  priorGuidanceScale: number;
  seed?: number;
  numOutputs: number;
  scheduler: SchedulerName;
  format?: ImageFormat;
  quality?: number;
  precision?: Precision;
  compare?: boolean;
}

export function addGenerationOptions(cmd: Command): Command {
  return cmd
    .option("-o, --output <file>", "output file (default: <prompt>-<seed>.png); several outputs are numbered: out-1.png, out-2.png, ...")
    .option("--width <px>", "image width", integer, DEFAULTS.width)
    .option("--height <px>", "image height", integer, DEFAULTS.height)
    .option("--steps <n>", "decoder denoising steps", integer, DEFAULTS.steps)
    .option("--prior-steps <n>", "prior denoising steps", integer, DEFAULTS.priorSteps)
    .option("--guidance-scale <x>", "decoder classifier-free guidance", number, DEFAULTS.guidanceScale)
    .option("--prior-guidance-scale <x>", "prior classifier-free guidance", number, DEFAULTS.priorGuidanceScale)
    .option("--seed <n>", "random seed (default: a random one, always printed)", nonNegativeInteger)
    .option("--num-outputs <n>", "number of images", integer, DEFAULTS.numOutputs)
    .addOption(new Option("--scheduler <name>", "decoder scheduler").choices(SCHEDULER_NAMES).default(DEFAULTS.scheduler))
    .addOption(new Option("--format <format>", "image format (default: from --output's extension, else png)").choices(FORMATS))
    .option("--quality <1-100>", "JPEG / WebP quality", integer)
    .addOption(new Option("--precision <p>", "UNet and MoVQ precision: fp32 (default), or int8 (cpu; faster, approximate; calibrated once per model)").choices(PRECISIONS))
    .option("--compare", "with --precision int8: also run fp32 with the same seed, write its images as <name>-fp32, print the PSNR between them");
}
