// The three model roles of Kandinsky 2.1 and how a folder is recognised as one: by what it holds, as diffusers'
// pipelines load their components by name whatever model_index.json's `_class_name` says (the inpainting repo's
// says KandinskyPipeline). A prior holds a PriorTransformer and the CLIP text and image encoders; a decoder a
// MultilingualCLIP, a UNet and a MoVQ: text-to-image when the UNet's input is the MoVQ's latents, inpainting when it
// is latents + masked-image latents + mask. Only model_index.json and two config.json are read, so a download can be
// checked before any weight file is fetched.
import { join } from "node:path";
import { readConfig, readModelIndex, withDefaults, type ModelIndex } from "../weights/config.js";
import { UNET_DEFAULTS } from "../models/unet/config.js";
import { VQMODEL_DEFAULTS } from "../models/movq/config.js";

export type Role = "prior" | "decoder" | "inpaint";
export const ROLES: readonly Role[] = ["prior", "decoder", "inpaint"];

/** Each role's default repo and what a folder of that role holds. */
export const ROLE_MODELS: Record<Role, { repo: string; name: string; holds: string }> = {
  prior: { repo: "kandinsky-community/kandinsky-2-1-prior", name: "prior", holds: "PriorTransformer + CLIP text and image encoders" },
  decoder: { repo: "kandinsky-community/kandinsky-2-1", name: "text-to-image decoder", holds: "UNet taking the MoVQ's latents" },
  inpaint: {
    repo: "kandinsky-community/kandinsky-2-1-inpaint", name: "inpainting decoder", holds: "UNet taking latents + masked-image latents + mask",
  },
};

/** A folder that is not the role it was given for. */
export class RoleError extends Error {}

/** What a pipeline folder holds: the role it can fill (none when undefined) and, in words, what was found. */
export interface FolderKind {
  role?: Role;
  found: string;
}

const PRIOR_PARTS = { prior: "PriorTransformer", text_encoder: "CLIPTextModelWithProjection", image_encoder: "CLIPVisionModelWithProjection" };
const DECODER_PARTS = { text_encoder: "MultilingualCLIP", unet: "UNet2DConditionModel", movq: "VQModel" };

const holds = (index: ModelIndex, parts: Record<string, string>) =>
  Object.entries(parts).every(([name, className]) => index.components[name]?.className === className);

export function identifyFolder(dir: string): FolderKind {
  let index: ModelIndex;
  try {
    index = readModelIndex(dir);
  } catch {
    return { found: "not a diffusers pipeline (no readable model_index.json)" };
  }
  if (holds(index, PRIOR_PARTS)) return { role: "prior", found: `a prior (${ROLE_MODELS.prior.holds})` };
  if (!holds(index, DECODER_PARTS)) {
    const parts = Object.entries(index.components).map(([name, c]) => `${name}: ${c.className}`).join(", ");
    return { found: `a ${index._class_name || "diffusers pipeline"} (${parts || "no components"}), not a Kandinsky 2.1 prior or decoder` };
  }
  // Constructor defaults for what the files lack, as the UNet and MoVQ would be built.
  const inChannels = withDefaults(readConfig(join(dir, "unet")), UNET_DEFAULTS).in_channels as number;
  const latents = withDefaults(readConfig(join(dir, "movq")), VQMODEL_DEFAULTS).latent_channels as number;
  if (inChannels === latents) return { role: "decoder", found: `a text-to-image decoder (UNet with ${inChannels} input channels: the latents)` };
  if (inChannels === 2 * latents + 1) {
    return { role: "inpaint", found: `an inpainting decoder (UNet with ${inChannels} input channels: ${latents} latents, ${latents} masked-image latents, mask)` };
  }
  return { found: `a decoder whose UNet takes ${inChannels} input channels, neither the MoVQ's ${latents} latent channels nor ${2 * latents + 1} for inpainting` };
}

/** Throws a one-line RoleError when `dir` cannot fill `role`; `label` names the folder in it (default: its path). */
export function checkRole(role: Role, dir: string, label = dir): void {
  const kind = identifyFolder(dir);
  if (kind.role === role) return;
  const { name, holds: what } = ROLE_MODELS[role];
  throw new RoleError(`${label} is ${kind.found}; expected ${/^[aeiou]/.test(name) ? "an" : "a"} ${name} (${what})`);
}
