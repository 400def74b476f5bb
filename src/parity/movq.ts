// Parity cases of the MoVQ image autoencoder: movq.decode (force_not_quantize), movq.decode_quantized, movq.encode.
import { join } from "node:path";
import type { Case, CaseSet } from "./cases.js";
import type { CaseResult } from "./report.js";
import type { ParityOptions } from "./options.js";
import { buildNetwork } from "../models/network.js";
import { MoVQDecodeSpec, MoVQEncodeSpec } from "../models/movq/movq.js";
import { runNetworkCase } from "./network-case.js";

export async function runMoVQCase(set: CaseSet, c: Case, o: ParityOptions): Promise<CaseResult> {
  const src = { dir: join(set.dir, c.target) };
  switch (c.id) {
    case "movq.encode":
      return runNetworkCase(set, c, buildNetwork(MoVQEncodeSpec, src, undefined, o.build), { session: o.session });
    case "movq.decode":
    case "movq.decode_quantized":
      return runNetworkCase(set, c, buildNetwork(MoVQDecodeSpec, src, { quantize: c.id === "movq.decode_quantized" }, o.build), { session: o.session });
    default:
      throw new Error(`no MoVQ runner for case "${c.id}"`);
  }
}
