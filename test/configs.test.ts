// Old minimal configs: every key a config file lacks takes the reference class's constructor default (diffusers
// 0.24, transformers 4.32). Each parser is checked field by field on the real-layout file (0.17-era key sets) and on
// a file holding only what the model family needs; the expected defaults are transcribed from the constructors'
// signatures, not taken from our tables.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { readConfig, readJson } from "../src/weights/config.js";
import { parseUNetConfig } from "../src/models/unet/config.js";
import { parseVQModelConfig } from "../src/models/movq/config.js";
import { priorConfig } from "../src/models/prior.js";
import { clipTextConfig, clipVisionConfig } from "../src/models/clip.js";
import { mclipConfig } from "../src/models/mclip.js";
import { parseDDIMConfig, parseDDPMConfig, parseUnCLIPConfig } from "../src/schedulers/index.js";
import { fixture } from "./fixtures.js";

const REAL = fixture("real-layout");
const real = (path: string) => readConfig(join(REAL, path));
const scheduler = (path: string) => readJson(join(REAL, path, "scheduler_config.json"));

/** The keys a UNet of Kandinsky 2.1's family must state (their defaults build a Stable Diffusion UNet). */
const KANDINSKY_UNET = {
  _class_name: "UNet2DConditionModel",
  addition_embed_type: "text_image",
  encoder_hid_dim_type: "text_image_proj",
  encoder_hid_dim: 48,
  mid_block_type: "UNetMidBlock2DSimpleCrossAttn",
  down_block_types: ["ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D", "SimpleCrossAttnDownBlock2D", "SimpleCrossAttnDownBlock2D"],
  up_block_types: ["SimpleCrossAttnUpBlock2D", "SimpleCrossAttnUpBlock2D", "SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"],
};

test("UNet2DConditionModel: the real-layout file, and the constructor defaults for every key a file lacks", () => {
  const inpaint = parseUNetConfig(real("inpaint/unet"));
  assert.deepEqual(inpaint, {
    inChannels: 9, outChannels: 8, centerInputSample: false, flipSinToCos: true, freqShift: 0,
    downBlockTypes: KANDINSKY_UNET.down_block_types, upBlockTypes: KANDINSKY_UNET.up_block_types,
    blockOutChannels: [16, 24, 32, 40], layersPerBlock: [2, 2, 2, 2], attentionHeadDim: [8, 8, 8, 8],
    onlyCrossAttention: [false, false, false, false], midBlockOnlyCrossAttention: false, midBlockScaleFactor: 1,
    act: "silu", normGroups: 8, normEps: 1e-5, crossAttentionDim: 32, encoderHidDim: 48,
    timeEmbedDim: 64, // time_embedding_dim null: 4 * block_out_channels[0]
    timestepPostAct: null, timeEmbedAct: null, resnetTimeNorm: "scale_shift", resnetSkipTimeAct: false,
    resnetOutScale: 1, convInKernel: 3, convOutKernel: 3, imageTokens: 10,
  });
  assert.equal(parseUNetConfig(real("decoder/unet")).inChannels, 4);

  // in_channels=4, out_channels=4, center_input_sample=False, flip_sin_to_cos=True, freq_shift=0,
  // only_cross_attention=False, block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
  // mid_block_scale_factor=1, act_fn="silu", norm_num_groups=32, norm_eps=1e-5, cross_attention_dim=1280,
  // attention_head_dim=8, resnet_time_scale_shift="default", resnet_skip_time_act=False, resnet_out_scale_factor=1.0,
  // time_embedding_dim=None, time_embedding_act_fn=None, timestep_post_act=None, conv_in_kernel=3, conv_out_kernel=3,
  // mid_block_only_cross_attention=None.
  assert.deepEqual(parseUNetConfig(KANDINSKY_UNET), {
    inChannels: 4, outChannels: 4, centerInputSample: false, flipSinToCos: true, freqShift: 0,
    downBlockTypes: KANDINSKY_UNET.down_block_types, upBlockTypes: KANDINSKY_UNET.up_block_types,
    blockOutChannels: [320, 640, 1280, 1280], layersPerBlock: [2, 2, 2, 2], attentionHeadDim: [8, 8, 8, 8],
    onlyCrossAttention: [false, false, false, false], midBlockOnlyCrossAttention: false, midBlockScaleFactor: 1,
    act: "silu", normGroups: 32, normEps: 1e-5, crossAttentionDim: 1280, encoderHidDim: 48, timeEmbedDim: 1280,
    timestepPostAct: null, timeEmbedAct: null, resnetTimeNorm: "default", resnetSkipTimeAct: false,
    resnetOutScale: 1, convInKernel: 3, convOutKernel: 3, imageTokens: 10,
  });
  const given = parseUNetConfig({ ...KANDINSKY_UNET, in_channels: 9, flip_sin_to_cos: false, time_embedding_dim: 96, norm_eps: 1e-6 });
  assert.deepEqual([given.inChannels, given.flipSinToCos, given.timeEmbedDim, given.normEps], [9, false, 96, 1e-6]);
  // The defaults' mid block and block types are Stable Diffusion's, which this family does not build.
  assert.throws(() => parseUNetConfig({ ...KANDINSKY_UNET, mid_block_type: undefined }), /mid_block_type = "UNetMidBlock2DCrossAttn" is not supported/);
});

test("VQModel: the real-layout file, and the constructor defaults for every key a file lacks", () => {
  assert.deepEqual(parseVQModelConfig(real("decoder/movq")), {
    inChannels: 3, outChannels: 3,
    downBlockTypes: ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "AttnDownEncoderBlock2D"],
    upBlockTypes: ["AttnUpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
    blockOutChannels: [32, 32, 32, 64], layersPerBlock: 1, actFn: "silu", latentChannels: 4, numVqEmbeddings: 64,
    normNumGroups: 32, vqEmbedDim: 4, normType: "spatial",
  });
  // in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",), up_block_types=("UpDecoderBlock2D",),
  // block_out_channels=(64,), layers_per_block=1, act_fn="silu", latent_channels=3, num_vq_embeddings=256,
  // norm_num_groups=32, vq_embed_dim=None (→ latent_channels), norm_type="group".
  assert.deepEqual(parseVQModelConfig({ _class_name: "VQModel" }), {
    inChannels: 3, outChannels: 3, downBlockTypes: ["DownEncoderBlock2D"], upBlockTypes: ["UpDecoderBlock2D"],
    blockOutChannels: [64], layersPerBlock: 1, actFn: "silu", latentChannels: 3, numVqEmbeddings: 256,
    normNumGroups: 32, vqEmbedDim: 3, normType: "group",
  });
  const given = parseVQModelConfig({ latent_channels: 4, num_vq_embeddings: 16384, norm_type: "spatial" });
  assert.deepEqual([given.latentChannels, given.vqEmbedDim, given.numVqEmbeddings, given.normType], [4, 4, 16384, "spatial"]);
});

test("PriorTransformer: the real 9-key file, and the constructor defaults for every key a file lacks", () => {
  // The file: additional_embeddings 4, attention_head_dim 16, dropout, embedding_dim 32, num_attention_heads 2,
  // num_embeddings 77, num_layers 2. Lacking: time_embed_act_fn, time_embed_dim, embedding_proj_dim, clip_embed_dim, ...
  assert.deepEqual(priorConfig(real("prior/prior")), {
    heads: 2, headDim: 16, layers: 2, embeddingDim: 32, numEmbeddings: 77,
    timeEmbedDim: 32, timeEmbedAct: "silu", embeddingProjDim: 32, clipEmbedDim: 32,
  });
  // num_attention_heads=32, attention_head_dim=64, num_layers=20, embedding_dim=768, num_embeddings=77,
  // time_embed_act_fn="silu", time_embed_dim=None (→ heads * head dim), embedding_proj_dim=None and
  // clip_embed_dim=None (→ embedding_dim).
  assert.deepEqual(priorConfig({ _class_name: "PriorTransformer" }), {
    heads: 32, headDim: 64, layers: 20, embeddingDim: 768, numEmbeddings: 77,
    timeEmbedDim: 2048, timeEmbedAct: "silu", embeddingProjDim: 768, clipEmbedDim: 768,
  });
  const given = priorConfig({ num_embeddings: 64, time_embed_act_fn: "gelu", clip_embed_dim: 1024 });
  assert.deepEqual([given.numEmbeddings, given.timeEmbedAct, given.clipEmbedDim, given.embeddingProjDim], [64, "gelu", 1024, 768]);
});

test("DDIMScheduler: the hand-written real file, and the constructor defaults for every key a file lacks", () => {
  // Lacking: trained_betas, clip_sample_range, dynamic_thresholding_ratio, sample_max_value, timestep_spacing,
  // rescale_betas_zero_snr.
  assert.deepEqual(parseDDIMConfig(scheduler("inpaint/scheduler")), {
    numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, betaSchedule: "linear", trainedBetas: null,
    clipSample: false, clipSampleRange: 1, thresholding: false, dynamicThresholdingRatio: 0.995, sampleMaxValue: 1,
    setAlphaToOne: false, stepsOffset: 1, predictionType: "epsilon", timestepSpacing: "leading", rescaleBetasZeroSnr: false,
  });
  // num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="linear", trained_betas=None,
  // clip_sample=True, set_alpha_to_one=True, steps_offset=0, prediction_type="epsilon", thresholding=False,
  // dynamic_thresholding_ratio=0.995, clip_sample_range=1.0, sample_max_value=1.0, timestep_spacing="leading",
  // rescale_betas_zero_snr=False.
  assert.deepEqual(parseDDIMConfig({ _class_name: "DDIMScheduler" }), {
    numTrainTimesteps: 1000, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: "linear", trainedBetas: null,
    clipSample: true, clipSampleRange: 1, thresholding: false, dynamicThresholdingRatio: 0.995, sampleMaxValue: 1,
    setAlphaToOne: true, stepsOffset: 0, predictionType: "epsilon", timestepSpacing: "leading", rescaleBetasZeroSnr: false,
  });
  const given = parseDDIMConfig({ timestep_spacing: "trailing", rescale_betas_zero_snr: true, trained_betas: [0.1, 0.2] });
  assert.deepEqual([given.timestepSpacing, given.rescaleBetasZeroSnr, given.trainedBetas], ["trailing", true, [0.1, 0.2]]);
});

test("DDPMScheduler: the real ddpm_scheduler file, and the constructor defaults for every key a file lacks", () => {
  // Lacking: steps_offset (→ 0) and timestep_spacing.
  assert.deepEqual(parseDDPMConfig(scheduler("decoder/ddpm_scheduler")), {
    numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, betaSchedule: "linear", trainedBetas: null,
    clipSample: false, clipSampleRange: 2, thresholding: true, dynamicThresholdingRatio: 0.995, sampleMaxValue: 2,
    varianceType: "learned_range", predictionType: "epsilon", timestepSpacing: "leading", stepsOffset: 0,
  });
  // num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="linear", trained_betas=None,
  // variance_type="fixed_small", clip_sample=True, prediction_type="epsilon", thresholding=False,
  // dynamic_thresholding_ratio=0.995, clip_sample_range=1.0, sample_max_value=1.0, timestep_spacing="leading",
  // steps_offset=0.
  assert.deepEqual(parseDDPMConfig({ _class_name: "DDPMScheduler" }), {
    numTrainTimesteps: 1000, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: "linear", trainedBetas: null,
    clipSample: true, clipSampleRange: 1, thresholding: false, dynamicThresholdingRatio: 0.995, sampleMaxValue: 1,
    varianceType: "fixed_small", predictionType: "epsilon", timestepSpacing: "leading", stepsOffset: 0,
  });
  const given = parseDDPMConfig({ steps_offset: 1, variance_type: "learned", beta_schedule: "squaredcos_cap_v2" });
  assert.deepEqual([given.stepsOffset, given.varianceType, given.betaSchedule], [1, "learned", "squaredcos_cap_v2"]);
});

test("UnCLIPScheduler: the real prior file, and the constructor defaults for every key a file lacks", () => {
  // Lacking: beta_schedule.
  assert.deepEqual(parseUnCLIPConfig(scheduler("prior/scheduler")), {
    numTrainTimesteps: 1000, varianceType: "fixed_small_log", clipSample: true, clipSampleRange: 10,
    predictionType: "sample", betaSchedule: "squaredcos_cap_v2",
  });
  // num_train_timesteps=1000, variance_type="fixed_small_log", clip_sample=True, clip_sample_range=1.0,
  // prediction_type="epsilon", beta_schedule="squaredcos_cap_v2".
  assert.deepEqual(parseUnCLIPConfig({ _class_name: "UnCLIPScheduler" }), {
    numTrainTimesteps: 1000, varianceType: "fixed_small_log", clipSample: true, clipSampleRange: 1,
    predictionType: "epsilon", betaSchedule: "squaredcos_cap_v2",
  });
  assert.equal(parseUnCLIPConfig({ variance_type: "learned_range" }).varianceType, "learned_range");
});

test("CLIPTextConfig and CLIPVisionConfig: the real-layout files, and the constructor defaults for every key a file lacks", () => {
  const encoder = (hidden: number, intermediate: number, heads: number, layers: number) =>
    ({ hidden, intermediate, heads, layers, act: "quick_gelu", eps: 1e-5 });
  type Raw = Record<string, unknown>;
  const cases: { parse: (raw: Raw) => object; file: string; fromFile: object; defaults: object; given: Raw; expect: Raw }[] = [{
    parse: clipTextConfig,
    file: "prior/text_encoder",
    fromFile: { ...encoder(32, 64, 4, 2), vocab: 512, maxPositions: 77, projection: 32, eosTokenId: 2 },
    // vocab_size=49408, hidden_size=512, intermediate_size=2048, projection_dim=512, num_hidden_layers=12,
    // num_attention_heads=8, max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5, eos_token_id=49407.
    defaults: { ...encoder(512, 2048, 8, 12), vocab: 49408, maxPositions: 77, projection: 512, eosTokenId: 49407 },
    given: { projection_dim: 768, hidden_act: "gelu" },
    expect: { projection: 768, act: "gelu", hidden: 512 },
  }, {
    parse: clipVisionConfig,
    file: "prior/image_encoder",
    fromFile: { ...encoder(48, 96, 4, 2), imageSize: 32, patchSize: 8, channels: 3, projection: 32 },
    // hidden_size=768, intermediate_size=3072, projection_dim=512, num_hidden_layers=12, num_attention_heads=12,
    // num_channels=3, image_size=224, patch_size=32, hidden_act="quick_gelu", layer_norm_eps=1e-5.
    defaults: { ...encoder(768, 3072, 12, 12), imageSize: 224, patchSize: 32, channels: 3, projection: 512 },
    given: { image_size: 336, patch_size: 14 },
    expect: { imageSize: 336, patchSize: 14, hidden: 768 },
  }];
  for (const c of cases) {
    assert.deepEqual(c.parse(real(c.file)), c.fromFile, c.file);
    assert.deepEqual(c.parse({}), c.defaults, c.file);
    const parsed = c.parse(c.given) as Raw;
    for (const [key, value] of Object.entries(c.expect)) assert.equal(parsed[key], value, `${c.file}: ${key}`);
  }
});

test("MCLIPConfig (XLMRobertaConfig): the real file with numDims / transformerDimensions only, and the constructor defaults", () => {
  assert.deepEqual(mclipConfig(real("decoder/text_encoder")), {
    encoder: { vocab: 300, hidden: 48, layers: 2, heads: 4, intermediate: 96, maxPositions: 80, typeVocab: 1, padTokenId: 1, act: "gelu", eps: 1e-5 },
    transformerDimensions: 48,
    numDims: 32,
  });
  // XLMRobertaConfig: vocab_size=30522, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
  // hidden_act="gelu", max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=1,
  // position_embedding_type="absolute"; MCLIPConfig: transformerDimSize=1024, imageDimSize=768.
  assert.deepEqual(mclipConfig({ hidden_size: 1024 }), {
    encoder: { vocab: 30522, hidden: 1024, layers: 12, heads: 12, intermediate: 3072, maxPositions: 512, typeVocab: 2, padTokenId: 1, act: "gelu", eps: 1e-12 },
    transformerDimensions: 1024,
    numDims: 768,
  });
  // The constructor's own spellings, as older configs saved them; the attribute names win over them.
  assert.deepEqual(Object.values(mclipConfig({ hidden_size: 640, transformerDimSize: 640, imageDimSize: 512 })).slice(1), [640, 512]);
  assert.equal(mclipConfig({ hidden_size: 640, transformerDimSize: 640, imageDimSize: 512, numDims: 256 }).numDims, 256);
});
