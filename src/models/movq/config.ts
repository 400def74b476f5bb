// diffusers' VQModel config (the MoVQ image decoder/encoder of Kandinsky 2.x), with the class's defaults.
import { ConfigError } from "../../weights/config.js";

export const DOWN_BLOCK_TYPES = ["DownEncoderBlock2D", "AttnDownEncoderBlock2D"] as const;
export const UP_BLOCK_TYPES = ["UpDecoderBlock2D", "AttnUpDecoderBlock2D"] as const;
export type DownBlockType = (typeof DOWN_BLOCK_TYPES)[number];
export type UpBlockType = (typeof UP_BLOCK_TYPES)[number];

/** SpatialNorm's GroupNorm is fixed in diffusers, whatever norm_num_groups says. */
export const SPATIAL_NORM_GROUPS = 32;

export interface VQModelConfig {
  /** in_channels (3): image channels the encoder reads. */
  inChannels: number;
  /** out_channels (3): image channels the decoder writes. */
  outChannels: number;
  /** down_block_types (["DownEncoderBlock2D"]): one per resolution level of the encoder. */
  downBlockTypes: DownBlockType[];
  /** up_block_types (["UpDecoderBlock2D"]): one per level of the decoder, deepest first. */
  upBlockTypes: UpBlockType[];
  /** block_out_channels ([64]): channels per level, shallowest first. */
  blockOutChannels: number[];
  /** layers_per_block (1): resnets per encoder block; decoder blocks have one more. */
  layersPerBlock: number;
  /** act_fn ("silu"). */
  actFn: string;
  /** latent_channels (3): channels of the encoder output and the decoder input. */
  latentChannels: number;
  /** num_vq_embeddings (256): codebook size. */
  numVqEmbeddings: number;
  /** norm_num_groups (32): GroupNorm groups of the resnets and attention blocks. */
  normNumGroups: number;
  /** vq_embed_dim (latent_channels): codebook vector size, the channels of `latents`. */
  vqEmbedDim: number;
  /** norm_type ("group"): "spatial" conditions the decoder's norms on the latents (MoVQ). */
  normType: "group" | "spatial";
}

function blockTypes<T extends string>(raw: unknown, known: readonly T[], key: string): T[] {
  if (!Array.isArray(raw) || raw.length === 0) throw new ConfigError(`VQModel config: "${key}" must be a non-empty list`);
  for (const t of raw) {
    if (!known.includes(t)) throw new ConfigError(`VQModel config: unsupported ${key} entry "${t}" (supported: ${known.join(", ")})`);
  }
  return raw as T[];
}

export function parseVQModelConfig(cfg: Record<string, any>): VQModelConfig {
  const c: VQModelConfig = {
    inChannels: cfg.in_channels ?? 3,
    outChannels: cfg.out_channels ?? 3,
    downBlockTypes: blockTypes(cfg.down_block_types ?? ["DownEncoderBlock2D"], DOWN_BLOCK_TYPES, "down_block_types"),
    upBlockTypes: blockTypes(cfg.up_block_types ?? ["UpDecoderBlock2D"], UP_BLOCK_TYPES, "up_block_types"),
    blockOutChannels: cfg.block_out_channels ?? [64],
    layersPerBlock: cfg.layers_per_block ?? 1,
    actFn: cfg.act_fn ?? "silu",
    latentChannels: cfg.latent_channels ?? 3,
    numVqEmbeddings: cfg.num_vq_embeddings ?? 256,
    normNumGroups: cfg.norm_num_groups ?? 32,
    vqEmbedDim: cfg.vq_embed_dim ?? cfg.latent_channels ?? 3,
    normType: cfg.norm_type ?? "group",
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
