// The latent-space pieces of the Kandinsky 2.1 decoder modes (diffusers 0.24): the latent size, img2img's own
// noising, the inpaint mask. float32 arithmetic is rounded per operation, as torch evaluates it.
import { resizeNearest, type HostTensor } from "../runtime/host-tensor.js";
import { alphasCumprod } from "../schedulers/betas.js";
import { addNoiseWith } from "../schedulers/sample-ops.js";
import { linspaceF32 } from "../f32/torch-ops.js";

/**
 * get_new_h_w: the latent size for an h×w request, each side rounded UP to a multiple of scaleFactor²
 * pixels, then divided by scaleFactor (the image comes out at latent × scaleFactor).
 */
export function getNewHW(h: number, w: number, scaleFactor = 8): [number, number] {
  const cell = scaleFactor * scaleFactor;
  return [Math.ceil(h / cell) * scaleFactor, Math.ceil(w / cell) * scaleFactor];
}

let img2imgAlphas: Float32Array | undefined;

/**
 * KandinskyImg2ImgPipeline.add_noise: forward diffusion of the encoded image with the pipeline's OWN schedule,
 * linspace(0.0001, 0.02, 1000) betas, not the scheduler's. One timestep per batch item, or one for all.
 */
export function img2imgAddNoise(original: HostTensor, noise: Float32Array, timesteps: number | readonly number[]): Float32Array {
  img2imgAlphas ??= alphasCumprod(linspaceF32(0.0001, 0.02, 1000));
  return addNoiseWith(img2imgAlphas, original, noise, typeof timesteps === "number" ? [timesteps] : timesteps);
}

/**
 * img2img's noise level for `strength`: the encoded image is noised to int(numTrainTimesteps·strength) - 2
 * (the original Kandinsky formula), not to the first timestep of the chain it is then denoised over
 * (`chain.from(strength)`).
 */
export function img2imgNoiseTimestep(strength: number, numTrainTimesteps: number): number {
  const t = Math.trunc(numTrainTimesteps * strength) - 2;
  if (!(strength > 0 && strength <= 1) || t < 0) {
    throw new RangeError(`img2img strength must be in (0, 1] and give a noise timestep >= 0, got ${strength}`);
  }
  return t;
}

/**
 * The inpaint pipeline's mask steps up to latent size, in the reference's order: binarise at 0.5
 * (>= 0.5 → 1), invert so that 1 = keep (input 1 = repaint), nearest-resize to latentH×latentW (the encoded
 * image's size), then `prepareMask`. `mask` is H×W or B×1×H×W; the result B×1×latentH×latentW.
 */
export function inpaintMask(mask: HostTensor, latentH: number, latentW: number): HostTensor {
  let shape = mask.shape;
  if (shape.length === 2) shape = [1, 1, ...shape];
  if (shape.length !== 4 || shape[1] !== 1) throw new RangeError(`inpaint mask must be HxW or Bx1xHxW, got [${mask.shape}]`);
  // NaN stays NaN through both comparisons, as in the reference.
  const keep = mask.data.map((v) => 1 - (v < 0.5 ? 0 : v >= 0.5 ? 1 : v));
  return prepareMask(resizeNearest({ data: keep, shape }, latentH, latentW));
}

/**
 * prepare_mask: every pixel that is not exactly 1 (keep) zeroes, in all channels, its neighbours
 * (i-1,j), (i,j-1), (i-1,j-1), (i+1,j), (i,j+1), (i+1,j+1) — not the other two diagonals — judged on the
 * input of channel 0. B×C×H×W.
 */
export function prepareMask(mask: HostTensor): HostTensor {
  const [n, c, h, w] = mask.shape;
  const out = mask.data.slice();
  const neighbours = [[-1, 0], [0, -1], [-1, -1], [1, 0], [0, 1], [1, 1]];
  for (let b = 0; b < n; b++) {
    const base = b * c * h * w;
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        if (mask.data[base + i * w + j] === 1) continue;
        for (const [di, dj] of neighbours) {
          const y = i + di, x = j + dj;
          if (y < 0 || y >= h || x < 0 || x >= w) continue;
          for (let ch = 0; ch < c; ch++) out[base + (ch * h + y) * w + x] = 0;
        }
      }
    }
  }
  return { data: out, shape: [...mask.shape] };
}

/** masked_image = image latents × mask, the B×1×h×w mask broadcast over channels (and over the batch if 1). */
export function maskLatents(latents: HostTensor, mask: HostTensor): Float32Array {
  const [n, c, h, w] = latents.shape;
  const [mn, mc, mh, mw] = mask.shape;
  if (mc !== 1 || mh !== h || mw !== w || (mn !== 1 && mn !== n)) {
    throw new RangeError(`mask [${mask.shape}] does not broadcast to latents [${latents.shape}]`);
  }
  const plane = h * w;
  return latents.data.map((v, i) => {
    const b = Math.floor(i / (c * plane));
    return v * mask.data[(mn === 1 ? 0 : b) * plane + (i % plane)];
  });
}
