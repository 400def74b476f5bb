// The image file formats outputs are written in. Kept apart from io.ts (sharp), so that the request-field table
// and the command line can name them without loading libvips.
export const IMAGE_FORMATS = ["png", "jpeg", "webp"] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/** The usual file extension of each format. */
export const EXTENSION: Record<ImageFormat, string> = { png: ".png", jpeg: ".jpg", webp: ".webp" };
