// Runs a component case through a built network: case inputs (plus extra feeds) in, named outputs compared.
import type { Case, CaseSet } from "./cases.js";
import { compare, type CaseResult } from "./report.js";
import type { Network } from "../models/network.js";
import { openSession } from "../models/network.js";
import type { HostArray } from "../runtime/session.js";
import type { Elem } from "../runtime/onnx-schema.js";
import type { SessionOptions } from "../runtime/session.js";

/** Converts fixture data (stored as float32) to the element type a graph input wants. */
export function asElem(data: Float32Array, elem: Elem): HostArray["data"] {
  switch (elem) {
    case "int64": return BigInt64Array.from(data, (x) => BigInt(Math.round(x)));
    case "int32": return Int32Array.from(data, Math.round);
    case "bool": case "uint8": return Uint8Array.from(data, Math.round);
    default: return data;
  }
}

/** Feeds every graph input from the case input of the same name, unless given in `extra`. */
export function caseFeeds(set: CaseSet, c: Case, net: Network<unknown>, extra: Record<string, HostArray> = {}): Record<string, HostArray> {
  const feeds: Record<string, HostArray> = { ...extra };
  for (const [name, elem] of Object.entries(net.graph.inputElems)) {
    if (feeds[name]) continue;
    const ref = c.inputs[name];
    if (!ref) throw new Error(`case ${c.id} has no input "${name}"`);
    const t = set.tensor(ref);
    feeds[name] = { data: asElem(t.data, elem), dims: t.shape };
  }
  return feeds;
}

export async function runNetworkCase(set: CaseSet, c: Case, net: Network<unknown>, opts: {
  extra?: Record<string, HostArray>;
  session?: SessionOptions;
  /** Graph output name for a case output name, when they differ. */
  outputName?: (caseOutput: string) => string;
} = {}): Promise<CaseResult> {
  const session = await openSession(net, opts.session);
  try {
    const out = await session.run(caseFeeds(set, c, net, opts.extra));
    const atol = c.suggested_tolerance?.atol ?? 1e-5;
    return compare(Object.entries(c.outputs).map(([name, ref]) => {
      const o = out[opts.outputName ? opts.outputName(name) : name];
      if (!o) throw new Error(`network has no output for case output "${name}"`);
      return { name, expected: set.tensor(ref), actual: { data: o.data as Float32Array, shape: o.dims }, atol };
    }), atol);
  } finally {
    await session.release();
  }
}
