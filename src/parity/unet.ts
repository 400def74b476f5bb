// Parity cases of the decoder / inpaint UNets: unet.forward_t999, unet.forward_t37, unet_inpaint.forward_t501.
import type { Case, CaseSet } from "./cases.js";
import type { CaseResult } from "./report.js";
import { join } from "node:path";
import { buildNetwork } from "../models/network.js";
import { UNET_OUTPUT, UNetSpec } from "../models/unet/unet.js";
import { runNetworkCase } from "./network-case.js";
import type { ParityOptions } from "./options.js";

export async function runUNetCase(set: CaseSet, c: Case, o: ParityOptions): Promise<CaseResult> {
  const net = buildNetwork(UNetSpec, { dir: join(set.dir, c.target) }, undefined, o.build);
  const timestep = { data: Float32Array.of(c.params.timestep), dims: [1] };
  return runNetworkCase(set, c, net, { extra: { timestep }, session: o.session, outputName: () => UNET_OUTPUT });
}
