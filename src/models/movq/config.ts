// diffusers' VQModel config (the MoVQ image decoder/encoder of Kandinsky 2.x), with the class's defaults.
import { ConfigError, withDefaults } from "../../weights/config.js";

export const DOWN_BLOCK_TYPES = ["DownEncoderBlock2D", "AttnDownEncoderBlock2D"] as const;
export const UP_BLOCK_TYPES = ["UpDecoderBlock2D", "AttnUpDecoderBlock2D"] as const;
export type DownBlockType = (typeof DOWN_BLOCK_TYPES)[number];
export type UpBlockType = (typeof UP_BLOCK_TYPES)[number];

/** SpatialNorm's GroupNorm is fixed in diffusers, whatever norm_num_groups says. */
export const SPATIAL_NORM_GROUPS = 32;

export interface VQModelConfig {
  /** in_channels: image channels the encoder reads. */
  inChannels: number;
  /** out_channels: image channels the decoder writes. */
  outChannels: number;
  /** down_block_types: one per resolution level of the encoder. */
  downBlockTypes: DownBlockType[];
  /** up_block_types: one per level of the decoder, deepest first. */
  upBlockTypes: UpBlockType[];
  /** block_out_channels: channels per level, shallowest first. */
  blockOutChannels: number[];
  /** layers_per_block: resnets per encoder block; decoder blocks have one more. */
  layersPerBlock: number;
  /** act_fn. */
  actFn: string;
  /** latent_channels: channels of the encoder output and the decoder input. */
  latentChannels: number;
  /** num_vq_embeddings: codebook size. */
  numVqEmbeddings: number;
  /** norm_num_groups: GroupNorm groups of the resnets and attention blocks. */
  normNumGroups: number;
  /** vq_embed_dim (null → latent_channels): codebook vector size, the channels of `latents`. */
  vqEmbedDim: number;
  /** norm_type: "spatial" conditions the decoder's norms on the latents (MoVQ). */
  normType: "group" | "spatial";
}

/**
 * VQModel.__init__'s defaults (diffusers 0.24), by config key: what a key the file lacks means. sample_size and
 * scaling_factor are left out: the Kandinsky pipelines read neither.
 */
export const VQMODEL_DEFAULTS: Readonly<Record<string, unknown>> = {
  in_channels: 3,
  out_channels: 3,
  down_block_types: ["DownEncoderBlock2D"],
  up_block_types: ["UpDecoderBlock2D"],
  block_out_channels: [64],
  layers_per_block: 1,
  act_fn: "silu",
  latent_channels: 3,
  num_vq_embeddings: 256,
  norm_num_groups: 32,
  vq_embed_dim: null,
  norm_type: "group",
};

function blockTypes<T extends string>(raw: unknown, known: readonly T[], key: string): T[] {
  if (!Array.isArray(raw) || raw.length === 0) throw new ConfigError(`VQModel config: "${key}" must be a non-empty list`);
  for (const t of raw) {
    if (!known.includes(t)) throw new ConfigError(`VQModel config: unsupported ${key} entry "${t}" (supported: ${known.join(", ")})`);
  }
  return raw as T[];
}

export function parseVQModelConfig(raw: Record<string, any>): VQModelConfig {
  const cfg = withDefaults(raw, VQMODEL_DEFAULTS);
  const c: VQModelConfig = {
    inChannels: cfg.in_channels,
    outChannels: cfg.out_channels,
    downBlockTypes: blockTypes(cfg.down_block_types, DOWN_BLOCK_TYPES, "down_block_types"),
    upBlockTypes: blockTypes(cfg.up_block_types, UP_BLOCK_TYPES, "up_block_types"),
    blockOutChannels: cfg.block_out_channels,
    layersPerBlock: cfg.layers_per_block,
    actFn: cfg.act_fn,
    latentChannels: cfg.latent_channels,
    numVqEmbeddings: cfg.num_vq_embeddings,
    normNumGroups: cfg.norm_num_groups,
    vqEmbedDim: cfg.vq_embed_dim ?? cfg.latent_channels,
    normType: cfg.norm_type,
  };
  const levels = c.blockOutChannels.length;
  if (c.downBlockTypes.length !== levels || c.upBlockTypes.length !== levels) {
    throw new ConfigError(`VQModel config: ${c.downBlockTypes.length} down and ${c.upBlockTypes.length} up block types for ${levels} block_out_channels`);
  }
  if (c.normType !== "group" && c.normType !== "spatial") throw new ConfigError(`VQModel config: unsupported norm_type "${c.normType}"`);
  for (const ch of c.blockOutChannels) {
    if (ch % c.normNumGroups) throw new ConfigError(`VQModel config: block channels ${ch} not divisible by norm_num_groups ${c.normNumGroups}`);
    if (c.normType === "spatial" && ch % SPATIAL_NORM_GROUPS) {
      throw new ConfigError(`VQModel config: block channels ${ch} not divisible by SpatialNorm's ${SPATIAL_NORM_GROUPS} groups`);
    }
  }
  // The decoder's SpatialNorms are built for latent_channels but conditioned on the (quantized) latents,
  // which have vq_embed_dim channels: diffusers only works when the two agree.
  if (c.normType === "spatial" && c.vqEmbedDim !== c.latentChannels) {
    throw new ConfigError(`VQModel config: norm_type "spatial" needs vq_embed_dim (${c.vqEmbedDim}) == latent_channels (${c.latentChannels})`);
  }
  return c;
}

/** Image pixels per latent along each axis: one 2x resampler between consecutive levels. */
export function movqScaleFactor(c: VQModelConfig): number {
  return 2 ** (c.blockOutChannels.length - 1);
}
