// Host tensors ↔ session feeds and outputs.
import type { HostArray, Session, TensorData } from "../runtime/session.js";
import type { HostTensor } from "../runtime/host-tensor.js";

/** Token ids and attention masks, one row per text (already padded to the same length). */
export interface TokenRows {
  ids: number[][];
  mask: number[][];
}

export function tokenFeed(rows: number[][]): HostArray {
  return { data: BigInt64Array.from(rows.flat(), (x) => BigInt(x)), dims: [rows.length, rows[0].length] };
}

export function floatFeed(t: HostTensor): HostArray {
  return { data: t.data, dims: t.shape };
}

/** A timestep for every batch row, in the element type the graph's `timestep` input declares. */
export function timestepFeed(s: Session, t: number, batch: number): HostArray {
  const elem = s.inputElem("timestep");
  const data = elem === "int64" ? new BigInt64Array(batch).fill(BigInt(t)) : new Float32Array(batch).fill(t);
  return { data, dims: [batch] };
}

/** A text encoder's outputs for some token rows. */
export interface TextStates {
  embeds: HostTensor;
  hidden: HostTensor;
}

/** A text encoder's text_embeds and last_hidden_state per group of token rows, run in one session. */
export async function textStates(s: Session, groups: TokenRows[], feeds: (rows: TokenRows) => Record<string, HostArray>): Promise<TextStates[]> {
  const res: TextStates[] = [];
  for (const rows of groups) {
    const out = await s.run(feeds(rows));
    res.push({ embeds: runOne(out, "text_embeds"), hidden: runOne(out, "last_hidden_state") });
  }
  return res;
}

export function runOne(out: Record<string, { data: TensorData; dims: number[] }>, name: string): HostTensor {
  const o = out[name];
  if (!o) throw new Error(`network output "${name}" missing`);
  return { data: o.data as Float32Array, shape: o.dims };
}
