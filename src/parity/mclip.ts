// Parity case of the decoder's text encoder (MultilingualCLIP): mclip.basic.
import { join } from "node:path";
import type { Case, CaseSet } from "./cases.js";
import type { CaseResult } from "./report.js";
import type { ParityOptions } from "./options.js";
import { buildNetwork } from "../models/network.js";
import { MClipSpec } from "../models/mclip.js";
import { runNetworkCase } from "./network-case.js";

export async function runMClipCase(set: CaseSet, c: Case, o: ParityOptions): Promise<CaseResult> {
  const net = buildNetwork(MClipSpec, { dir: join(set.dir, c.target) }, undefined, o.build);
  return runNetworkCase(set, c, net, { session: o.session });
}
