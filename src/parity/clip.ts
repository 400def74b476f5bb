// Parity cases of the prior's CLIP encoders: clip_text.*, clip_vision.*.
import type { Case, CaseSet } from "./cases.js";
import type { CaseResult } from "./report.js";
import { join } from "node:path";
import { buildNetwork } from "../models/network.js";
import { ClipTextSpec, ClipVisionSpec } from "../models/clip.js";
import { runNetworkCase } from "./network-case.js";
import type { ParityOptions } from "./options.js";

export async function runClipCase(set: CaseSet, c: Case, o: ParityOptions): Promise<CaseResult> {
  const src = { dir: join(set.dir, c.target) };
  const net = c.id.startsWith("clip_text.")
    ? buildNetwork(ClipTextSpec, src, { withMask: "attention_mask" in c.inputs }, o.build)
    : buildNetwork(ClipVisionSpec, src, undefined, o.build);
  return runNetworkCase(set, c, net, { session: o.session });
}
