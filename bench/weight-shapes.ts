// The tensors a component's checkpoint must hold, read off our own loaders: each network the component serves is
// built without weights, and the keys (with shapes) its weight view asked for are collected. Host-side tensors
// that no graph reads (the prior's clip_mean / clip_std) are added by hand.
import { Graph } from "../src/runtime/graph.js";
import { WeightStore } from "../src/weights/weight-view.js";
import { DEFAULT_BUILD, type NetworkSpec } from "../src/models/network.js";
import { ClipTextSpec, ClipVisionSpec } from "../src/models/clip.js";
import { MClipSpec } from "../src/models/mclip.js";
import { PriorSpec } from "../src/models/prior.js";
import { UNetSpec } from "../src/models/unet/unet.js";
import { MoVQDecodeSpec, MoVQEncodeSpec } from "../src/models/movq/movq.js";

/** A network a component serves, with the graph variant to build. */
interface Use {
  spec: NetworkSpec<any, any>;
  variant: unknown;
}

/** By config class: every network built from such a component (their weight keys together form the checkpoint). */
const USES: Record<string, Use[]> = {
  CLIPTextModelWithProjection: [{ spec: ClipTextSpec, variant: { withMask: true } }],
  CLIPVisionModelWithProjection: [{ spec: ClipVisionSpec, variant: undefined }],
  MultilingualCLIP: [{ spec: MClipSpec, variant: undefined }],
  PriorTransformer: [{ spec: PriorSpec, variant: undefined }],
  UNet2DConditionModel: [{ spec: UNetSpec, variant: undefined }],
  VQModel: [{ spec: MoVQDecodeSpec, variant: { quantize: true } }, { spec: MoVQEncodeSpec, variant: undefined }],
};

/** transformers configs name the class in `architectures`, diffusers configs in `_class_name`. */
export function configClass(raw: Record<string, any>): string | undefined {
  return raw._class_name ?? raw.architectures?.[0];
}

/** True when the component is a transformers one (weights in model.safetensors). */
export function isTransformers(raw: Record<string, any>): boolean {
  return raw._class_name === undefined && Array.isArray(raw.architectures);
}

export function hasNetwork(raw: Record<string, any>): boolean {
  const c = configClass(raw);
  return c !== undefined && c in USES;
}

/** Key → shape of every tensor a checkpoint for this config must hold, in a stable order. */
export function weightShapes(raw: Record<string, any>): Map<string, readonly number[]> {
  const cls = configClass(raw);
  const uses = cls ? USES[cls] : undefined;
  if (!uses) throw new Error(`no network for config class ${JSON.stringify(cls)}`);
  const shapes = new Map<string, readonly number[]>();
  const add = (key: string, shape: readonly number[]) => {
    const had = shapes.get(key);
    if (had && had.join(",") !== shape.join(",")) throw new Error(`${cls}: "${key}" is needed as [${had}] and as [${shape}]`);
    shapes.set(key, shape);
  };
  for (const { spec, variant } of uses) {
    const store = new WeightStore(new Graph(spec.classes[0]), null, DEFAULT_BUILD);
    const cfg = spec.parseConfig(raw);
    spec.build(store.root(), cfg, variant);
    for (const [k, s] of store.shapes) add(k, s);
    if (spec === PriorSpec) {
      const d = cfg.clipEmbedDim as number;
      add("clip_mean", [1, d]);
      add("clip_std", [1, d]);
    }
  }
  return new Map([...shapes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
