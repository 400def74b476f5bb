// Parity cases of the PriorTransformer: prior.forward_t*, prior.post_process_latents.
import { join } from "node:path";
import type { Case, CaseSet } from "./cases.js";
import { compare, type CaseResult } from "./report.js";
import type { ParityOptions } from "./options.js";
import { buildNetwork } from "../models/network.js";
import { PriorSpec, postProcessLatents, readClipStats } from "../models/prior.js";
import { Checkpoint } from "../weights/checkpoint.js";
import { runNetworkCase } from "./network-case.js";

export async function runPriorCase(set: CaseSet, c: Case, o: ParityOptions): Promise<CaseResult> {
  const dir = join(set.dir, c.target);
  const atol = c.suggested_tolerance?.atol ?? 1e-5;
  if (c.id === "prior.post_process_latents") {
    const actual = postProcessLatents(readClipStats(new Checkpoint(dir)), set.tensor(c.inputs.prior_latents));
    return compare([{ name: "image_embeds", expected: set.tensor(c.outputs.image_embeds), actual, atol }], atol);
  }
  const t = c.params.timestep;
  if (!Number.isInteger(t)) throw new Error(`case ${c.id}: params.timestep ${JSON.stringify(t)} is not an integer`);
  const net = buildNetwork(PriorSpec, { dir }, undefined, o.build);
  return runNetworkCase(set, c, net, { session: o.session, extra: { timestep: { data: BigInt64Array.of(BigInt(t)), dims: [1] } } });
}
