// Host tensors (row-major float32 values + shape: latents, embeddings, images) and the shape operations the
// pipelines and schedulers apply to them, each as the torch op it stands for.
import { f32 } from "../f32/scalar.js";

/** A tensor in host memory: row-major float32 values and their shape (latents, embeddings, images). */
export interface HostTensor {
  data: Float32Array;
  shape: number[];
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function tensor(data: Float32Array, shape: readonly number[]): HostTensor {
  if (data.length !== numel(shape)) throw new Error(`tensor data has ${data.length} values, shape [${shape}] needs ${numel(shape)}`);
  return { data, shape: [...shape] };
}

/** t · k, in float32. */
export function scale(t: HostTensor, k: number): HostTensor {
  return { data: t.data.map((v) => v * k), shape: [...t.shape] };
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

/**
 * One image (or mask) for every row of the batch: as the combined pipelines repeat the image to the number of
 * image embeddings and the decoder repeats it per image per prompt.
 */
export function spreadBatch(t: HostTensor, batch: number): HostTensor {
  if (t.shape[0] === batch) return t;
  if (batch % t.shape[0] !== 0) throw new Error(`cannot spread ${t.shape[0]} images over a batch of ${batch}`);
  return repeatInterleave(t, batch / t.shape[0]);
}

/** Splits dim 1 of an N-d tensor at `c`: [first c channels, the rest]. */
export function splitChannels(t: HostTensor, c: number): [HostTensor, HostTensor] {
  const [batch, channels, ...rest] = t.shape;
  if (!(c > 0 && c < channels)) throw new RangeError(`cannot split ${channels} channels at ${c}`);
  const inner = numel(rest);
  const a = new Float32Array(batch * c * inner), b = new Float32Array(batch * (channels - c) * inner);
  for (let n = 0; n < batch; n++) {
    const src = n * channels * inner;
    a.set(t.data.subarray(src, src + c * inner), n * c * inner);
    b.set(t.data.subarray(src + c * inner, src + channels * inner), n * (channels - c) * inner);
  }
  return [
    { data: a, shape: [batch, c, ...rest] },
    { data: b, shape: [batch, channels - c, ...rest] },
  ];
}

/** torch.cat([a, b], dim=1) for tensors of equal batch and trailing shape. */
export function concatChannels(a: HostTensor, b: HostTensor): HostTensor {
  const [n, ca, ...rest] = a.shape;
  const cb = b.shape[1];
  if (b.shape[0] !== n || b.shape.slice(2).join() !== rest.join()) {
    throw new RangeError(`cannot concatenate [${a.shape}] and [${b.shape}] on channels`);
  }
  const inner = numel(rest);
  const out = new Float32Array(a.data.length + b.data.length);
  for (let i = 0; i < n; i++) {
    out.set(a.data.subarray(i * ca * inner, (i + 1) * ca * inner), i * (ca + cb) * inner);
    out.set(b.data.subarray(i * cb * inner, (i + 1) * cb * inner), (i * (ca + cb) + ca) * inner);
  }
  return { data: out, shape: [n, ca + cb, ...rest] };
}

/**
 * F.interpolate(x, (outH, outW), mode="nearest") on N×C×H×W: source index floor(dst · in/out) in float32,
 * clamped to the last row/column.
 */
export function resizeNearest(t: HostTensor, outH: number, outW: number): HostTensor {
  const [n, c, inH, inW] = t.shape;
  const index = (dst: number, inSize: number, outSize: number) =>
    inSize === outSize ? dst : Math.min(Math.floor(f32(dst * f32(inSize / outSize))), inSize - 1);
  const rows = Array.from({ length: outH }, (_, y) => index(y, inH, outH));
  const cols = Array.from({ length: outW }, (_, x) => index(x, inW, outW));
  const out = new Float32Array(n * c * outH * outW);
  let o = 0;
  for (let p = 0; p < n * c; p++) {
    for (const y of rows) for (const x of cols) out[o++] = t.data[(p * inH + y) * inW + x];
  }
  return { data: out, shape: [n, c, outH, outW] };
}
