// The denoising loop of the prior and the decoder, and the guidance rules they run it with: per step, build
// the guidance batch, run the network, guide, step the scheduler's chain, report progress, check for cancel.
// A pipeline supplies its network's feeds and its guidance rule; a decoder mode, its start latents and chain.
import type { NoiseSource } from "../noise/noise-source.js";
import type { HostArray, Session } from "../runtime/session.js";
import type { TimestepChain } from "../schedulers/chain.js";
import { catBatch, concatChannels, repeatInterleave, scale, splitChannels, tensor, type HostTensor } from "../runtime/host-tensor.js";
import { runOne, timestepFeed, type TextStates } from "./feeds.js";
import { checkCancelled, type Progress, type ProgressEvent } from "./progress.js";
import { f32 } from "../f32/scalar.js";

export interface DenoiseArgs {
  session: Session;
  chain: TimestepChain;
  /** The start latents (prepare_latents: already times the scheduler's init noise sigma). */
  latents: HostTensor;
  /** The network's inputs for a batch `x` of latents, all but `timestep`, which the loop adds. */
  feeds: (x: HostTensor) => Record<string, HostArray>;
  /** The network output the scheduler steps on. */
  output: string;
  /**
   * Classifier-free guidance: when set, each step runs the latents twice, as [uncond, cond] rows, and this
   * merges the output's halves into what the scheduler gets.
   */
  guide?: (output: HostTensor) => HostTensor;
  noise: NoiseSource;
  stage: ProgressEvent["stage"];
  progress?: Progress;
  signal?: AbortSignal;
  /** A preview of the step's x_0 estimate, for each progress event. */
  preview?: (x0: HostTensor) => ProgressEvent["preview"];
}

/** Walks the chain from `latents`; returns the last step's sample. */
export async function denoise(a: DenoiseArgs): Promise<HostTensor> {
  const { chain, session } = a;
  let x = a.latents;
  for (let i = 0; i < chain.length; i++) {
    checkCancelled(a.signal);
    const input = a.guide ? catBatch([x, x]) : x;
    const out = await session.run({ ...a.feeds(input), timestep: timestepFeed(session, chain.timesteps[i], input.shape[0]) });
    let pred = runOne(out, a.output);
    if (a.guide) pred = a.guide(pred);
    const step = chain.step(i, pred, x, a.noise);
    x = tensor(step.prevSample, x.shape);
    a.progress?.({ stage: a.stage, step: i + 1, total: chain.length, preview: a.preview?.(tensor(step.predOriginalSample, x.shape)) });
  }
  return x;
}

/** prepare_latents: `given` or a draw of `shape`, times the scheduler's init noise sigma. */
export function startLatents(noise: NoiseSource, shape: number[], drawnBy: string, initNoiseSigma: number, given?: HostTensor): HostTensor {
  return scale(given ?? tensor(noise.randn(shape, drawnBy), shape), initNoiseSigma);
}

/** Conditioning rows of the guidance batch: every cond row n times, after the uncond rows when guiding. */
export function conditioning(cond: HostTensor, uncond: HostTensor | undefined, n: number): HostTensor {
  const c = repeatInterleave(cond, n);
  return uncond ? catBatch([repeatInterleave(uncond, n), c]) : c;
}

/** The text states of [cond] or [cond, uncond] rows as conditioning rows of the guidance batch. */
export function textConditioning([cond, uncond]: TextStates[], n: number): TextStates {
  return { embeds: conditioning(cond.embeds, uncond?.embeds, n), hidden: conditioning(cond.hidden, uncond?.hidden, n) };
}

/**
 * Classifier-free guidance on a batch ordered [uncond, cond]: uncond + scale · (cond - uncond), per the
 * halves; returns half the batch. The prior's rule, and the decoder's on the eps half.
 */
export function classifierFreeGuidance(pred: HostTensor, scale: number): HostTensor {
  const [batch, ...rest] = pred.shape;
  if (batch % 2 !== 0) throw new RangeError(`guidance needs an even batch [uncond, cond], got ${batch}`);
  const half = pred.data.length / 2;
  const s = f32(scale);
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const u = pred.data[i];
    out[i] = u + f32(s * f32(pred.data[half + i] - u));
  }
  return { data: out, shape: [batch / 2, ...rest] };
}

/**
 * The decoder's rule for the UNet's 2C-channel output: guidance on the eps half only, the cond half's
 * learned variance kept: returns [guided eps, cond variance] of shape (B/2, 2C, h, w).
 */
export function guideUnetOutput(output: HostTensor, latentChannels: number, scale: number): HostTensor {
  const [eps, variance] = splitChannels(output, latentChannels);
  const guided = classifierFreeGuidance(eps, scale);
  const condVariance = variance.data.subarray(variance.data.length / 2);
  return concatChannels(guided, { data: condVariance, shape: [guided.shape[0], ...variance.shape.slice(1)] });
}
