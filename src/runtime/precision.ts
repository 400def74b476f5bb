/** How the networks that have an int8 form (UNet, MoVQ decoder) compute: float32, the default and the reference's
 * numbers, or int8 (runtime/int8.ts). A light module: the request fields import it without loading ONNX Runtime. */
export const PRECISIONS = ["fp32", "int8"] as const;
export type Precision = (typeof PRECISIONS)[number];
