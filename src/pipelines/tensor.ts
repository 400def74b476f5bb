// Batch-axis helpers on host tensors (row-major Float32Array + shape), as the pipelines need them.
import type { HostTensor } from "../runtime/host-tensor.js";

export type { HostTensor };

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function tensor(data: Float32Array, shape: readonly number[]): HostTensor {
  if (data.length !== numel(shape)) throw new Error(`tensor data has ${data.length} values, shape [${shape}] needs ${numel(shape)}`);
  return { data, shape: [...shape] };
}

/** Concatenates along the batch axis. */
export function catBatch(parts: HostTensor[]): HostTensor {
  const rest = parts[0].shape.slice(1);
  for (const p of parts) {
    if (p.shape.slice(1).join(",") !== rest.join(",")) throw new Error(`cannot concatenate [${p.shape}] with [${parts[0].shape}]`);
  }
  const out = new Float32Array(parts.reduce((n, p) => n + p.data.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p.data, o); o += p.data.length; }
  return { data: out, shape: [parts.reduce((n, p) => n + p.shape[0], 0), ...rest] };
}

/** Rows [start, end) of the batch axis. */
export function sliceBatch(t: HostTensor, start: number, end: number): HostTensor {
  const row = numel(t.shape.slice(1));
  return { data: t.data.slice(start * row, end * row), shape: [end - start, ...t.shape.slice(1)] };
}

/** torch.chunk(2) on the batch axis. */
export function halves(t: HostTensor): [HostTensor, HostTensor] {
  const h = t.shape[0] / 2;
  if (!Number.isInteger(h)) throw new Error(`cannot halve a batch of ${t.shape[0]}`);
  return [sliceBatch(t, 0, h), sliceBatch(t, h, t.shape[0])];
}

/** torch.repeat_interleave(n, dim=0): each row n times in a row. */
export function repeatInterleave(t: HostTensor, n: number): HostTensor {
  if (n === 1) return t;
  const row = numel(t.shape.slice(1));
  const out = new Float32Array(t.data.length * n);
  for (let b = 0; b < t.shape[0]; b++) {
    const src = t.data.subarray(b * row, (b + 1) * row);
    for (let r = 0; r < n; r++) out.set(src, (b * n + r) * row);
  }
  return { data: out, shape: [t.shape[0] * n, ...t.shape.slice(1)] };
}

/** tensor.repeat(n, 1, ...): the whole batch n times. */
export function repeatBatch(t: HostTensor, n: number): HostTensor {
  return catBatch(new Array(n).fill(t));
}
