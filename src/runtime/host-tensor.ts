/** A tensor in host memory: row-major float32 values and their shape (latents, embeddings, images). */
export interface HostTensor {
  data: Float32Array;
  shape: number[];
}
