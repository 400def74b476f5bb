// UNet2DConditionModel config (diffusers 0.24) for the family Kandinsky 2.1 uses: resnet-resampled down/up blocks,
// added-KV cross attention, text+image conditioning. Anything outside that family is rejected by key and value.
import { ConfigError, withDefaults } from "../../weights/config.js";

export type DownBlockType = "ResnetDownsampleBlock2D" | "SimpleCrossAttnDownBlock2D";
export type UpBlockType = "ResnetUpsampleBlock2D" | "SimpleCrossAttnUpBlock2D";
export type TimeNorm = "default" | "scale_shift";

const DOWN_BLOCKS: readonly string[] = ["ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"];
const UP_BLOCKS: readonly string[] = ["ResnetUpsampleBlock2D", "SimpleCrossAttnUpBlock2D"];

export interface UNetConfig {
  /** in_channels: latents (+ masked latents + mask when inpainting). */
  inChannels: number;
  /** out_channels (Kandinsky: 2 x latents = epsilon + learned variance). */
  outChannels: number;
  /** center_input_sample: feed 2x - 1. */
  centerInputSample: boolean;
  /** flip_sin_to_cos: timestep features as [cos, sin]. */
  flipSinToCos: boolean;
  /** freq_shift: the sinusoid's downscale_freq_shift. */
  freqShift: number;
  downBlockTypes: DownBlockType[];
  upBlockTypes: UpBlockType[];
  blockOutChannels: number[];
  /** layers_per_block, one per down block; up blocks have one more. */
  layersPerBlock: number[];
  /** attention_head_dim, channels per head, one per down block (diffusers' heads = channels / this). */
  attentionHeadDim: number[];
  /** only_cross_attention, one per down block: attend to the encoder tokens only. */
  onlyCrossAttention: boolean[];
  /** mid_block_only_cross_attention (null → only_cross_attention when that is a single bool, else false). */
  midBlockOnlyCrossAttention: boolean;
  /** mid_block_scale_factor: output scale of the mid block's resnets. */
  midBlockScaleFactor: number;
  /** act_fn. */
  act: string;
  /** norm_num_groups and norm_eps: every resnet GroupNorm, the attention GroupNorm's groups, conv_norm_out. */
  normGroups: number;
  normEps: number;
  /** cross_attention_dim: added-KV input size, image/text embedding size. */
  crossAttentionDim: number;
  /** encoder_hid_dim (required for text_image_proj): size of the text encoder's hidden states. */
  encoderHidDim: number;
  /** time_embedding_dim (null → 4 * block_out_channels[0]). */
  timeEmbedDim: number;
  /** timestep_post_act and time_embedding_act_fn: optional activations of the time embedding. */
  timestepPostAct: string | null;
  timeEmbedAct: string | null;
  /** resnet_time_scale_shift: "scale_shift" conditions norm2 as (1 + scale) x + shift. */
  resnetTimeNorm: TimeNorm;
  /** resnet_skip_time_act: feed the time embedding to the resnets without the activation. */
  resnetSkipTimeAct: boolean;
  /** resnet_out_scale_factor: down/up block resnets divide their output by this. */
  resnetOutScale: number;
  /** conv_in_kernel, conv_out_kernel. */
  convInKernel: number;
  convOutKernel: number;
  /** TextImageProjection's num_image_text_embeds (a class default, not in config.json): 10 image tokens. */
  imageTokens: number;
}

/**
 * UNet2DConditionModel.__init__'s defaults (diffusers 0.24), by config key: what a key the file lacks means.
 * Keys that change nothing computed here (dropout, sample_size, upcast_attention, the transformer-block options
 * this family has no block for) are left out.
 */
export const UNET_DEFAULTS: Readonly<Record<string, unknown>> = {
  in_channels: 4,
  out_channels: 4,
  center_input_sample: false,
  flip_sin_to_cos: true,
  freq_shift: 0,
  down_block_types: ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
  mid_block_type: "UNetMidBlock2DCrossAttn",
  up_block_types: ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
  only_cross_attention: false,
  block_out_channels: [320, 640, 1280, 1280],
  layers_per_block: 2,
  mid_block_scale_factor: 1,
  act_fn: "silu",
  norm_num_groups: 32,
  norm_eps: 1e-5,
  cross_attention_dim: 1280,
  encoder_hid_dim: null,
  encoder_hid_dim_type: null,
  attention_head_dim: 8,
  num_attention_heads: null,
  class_embed_type: null,
  addition_embed_type: null,
  num_class_embeds: null,
  resnet_time_scale_shift: "default",
  resnet_skip_time_act: false,
  resnet_out_scale_factor: 1.0,
  time_embedding_type: "positional",
  time_embedding_dim: null,
  time_embedding_act_fn: null,
  timestep_post_act: null,
  time_cond_proj_dim: null,
  conv_in_kernel: 3,
  conv_out_kernel: 3,
  mid_block_only_cross_attention: null,
  cross_attention_norm: null,
};

const what = "UNet2DConditionModel";

function fail(key: string, value: unknown, why: string): never {
  throw new ConfigError(`${what} config: ${key} = ${JSON.stringify(value)} is not supported (${why})`);
}

/** A config value that must equal the one implemented. */
function expect(cfg: Record<string, any>, key: string, allowed: unknown[], why: string): void {
  if (!allowed.includes(cfg[key])) fail(key, cfg[key], why);
}

/** A value given once or per down block, as a per-block list. */
function perBlock<T>(cfg: Record<string, any>, key: string, n: number, check: [(x: unknown) => boolean, string]): T[] {
  const v = cfg[key];
  const list = Array.isArray(v) ? v : new Array(n).fill(v);
  if (list.length !== n) fail(key, v, `needs one value per down block (${n})`);
  if (!list.every(check[0])) fail(key, v, `needs ${check[1]}`);
  return list as T[];
}

const isInt = (x: unknown) => Number.isInteger(x) && (x as number) > 0;
const POSITIVE_INT: [(x: unknown) => boolean, string] = [isInt, "positive integers"];
const BOOL: [(x: unknown) => boolean, string] = [(x) => typeof x === "boolean", "booleans"];

export function parseUNetConfig(raw: Record<string, any>): UNetConfig {
  const cfg = withDefaults(raw, UNET_DEFAULTS);
  if (cfg._class_name !== undefined && cfg._class_name !== what) fail("_class_name", cfg._class_name, `expected ${what}`);
  expect(cfg, "time_embedding_type", ["positional"], "only sinusoidal timestep features");
  expect(cfg, "class_embed_type", [null], "no class embedding");
  expect(cfg, "num_class_embeds", [null], "no class embedding");
  expect(cfg, "time_cond_proj_dim", [null], "no timestep condition projection");
  expect(cfg, "addition_embed_type", ["text_image"], "Kandinsky 2.1 conditions the time embedding on text and image embeddings");
  expect(cfg, "encoder_hid_dim_type", ["text_image_proj"], "Kandinsky 2.1 projects text states and image embeddings to tokens");
  expect(cfg, "mid_block_type", ["UNetMidBlock2DSimpleCrossAttn"], "only the added-KV mid block");
  expect(cfg, "cross_attention_norm", [null], "no norm of the encoder states");
  // diffusers itself refuses num_attention_heads (attention_head_dim carries the head size).
  expect(cfg, "num_attention_heads", [null], "set attention_head_dim instead");
  expect(cfg, "resnet_time_scale_shift", ["default", "scale_shift"], "resnet time conditioning");

  const blockOut: number[] = cfg.block_out_channels;
  const n = blockOut.length;
  if (!n || !blockOut.every(isInt)) fail("block_out_channels", blockOut, "needs positive integers");
  const down: string[] = cfg.down_block_types;
  const up: string[] = cfg.up_block_types;
  if (down.length !== n) fail("down_block_types", down, `needs one type per block_out_channels entry (${n})`);
  if (up.length !== n) fail("up_block_types", up, `needs one type per block_out_channels entry (${n})`);
  down.forEach((t) => DOWN_BLOCKS.includes(t) || fail("down_block_types", t, `implemented: ${DOWN_BLOCKS.join(", ")}`));
  up.forEach((t) => UP_BLOCKS.includes(t) || fail("up_block_types", t, `implemented: ${UP_BLOCKS.join(", ")}`));

  const crossDim = cfg.cross_attention_dim;
  if (!isInt(crossDim)) fail("cross_attention_dim", crossDim, "text_image_proj needs a single size");
  const encoderHidDim = cfg.encoder_hid_dim;
  if (!isInt(encoderHidDim)) fail("encoder_hid_dim", encoderHidDim, "text_image_proj needs the text encoder's hidden size");

  const groups = cfg.norm_num_groups;
  if (!isInt(groups)) fail("norm_num_groups", groups, "needs a group count");
  const headDim = perBlock<number>(cfg, "attention_head_dim", n, POSITIVE_INT);
  blockOut.forEach((c, i) => {
    if (c % groups) fail("norm_num_groups", groups, `must divide block_out_channels[${i}] = ${c}`);
    // Levels with attention: their down block, the mirrored up block, the mid block at the deepest one.
    const attends = down[i] === "SimpleCrossAttnDownBlock2D" || up[n - 1 - i] === "SimpleCrossAttnUpBlock2D" || i === n - 1;
    if (attends && c % headDim[i]) fail("attention_head_dim", cfg.attention_head_dim, `must divide block_out_channels[${i}] = ${c}`);
  });

  const onlyCross = perBlock<boolean>(cfg, "only_cross_attention", n, BOOL);
  const midOnly = cfg.mid_block_only_cross_attention ?? (typeof cfg.only_cross_attention === "boolean" ? cfg.only_cross_attention : false);
  return {
    inChannels: cfg.in_channels,
    outChannels: cfg.out_channels,
    centerInputSample: cfg.center_input_sample,
    flipSinToCos: cfg.flip_sin_to_cos,
    freqShift: cfg.freq_shift,
    downBlockTypes: down as DownBlockType[],
    upBlockTypes: up as UpBlockType[],
    blockOutChannels: blockOut,
    layersPerBlock: perBlock<number>(cfg, "layers_per_block", n, POSITIVE_INT),
    attentionHeadDim: headDim,
    onlyCrossAttention: onlyCross,
    midBlockOnlyCrossAttention: midOnly,
    midBlockScaleFactor: cfg.mid_block_scale_factor,
    act: cfg.act_fn,
    normGroups: groups,
    normEps: cfg.norm_eps,
    crossAttentionDim: crossDim,
    encoderHidDim,
    timeEmbedDim: cfg.time_embedding_dim ?? 4 * blockOut[0],
    timestepPostAct: cfg.timestep_post_act,
    timeEmbedAct: cfg.time_embedding_act_fn,
    resnetTimeNorm: cfg.resnet_time_scale_shift,
    resnetSkipTimeAct: cfg.resnet_skip_time_act,
    resnetOutScale: cfg.resnet_out_scale_factor,
    convInKernel: cfg.conv_in_kernel,
    convOutKernel: cfg.conv_out_kernel,
    imageTokens: 10,
  };
}
