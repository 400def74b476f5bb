// Where the tests find the reference fixture sets: ../shared/fixtures/kandinsky21 beside the repository (as
// developers and CI have it), or the folder KANDINSKY_FIXTURES names.
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The kandinsky21 fixture root: tiny-a, real-layout, full-configs, seeds, tokenizers, tokenizers-real. */
export const FIXTURES = process.env.KANDINSKY_FIXTURES ?? fileURLToPath(new URL("../../../shared/fixtures/kandinsky21", import.meta.url));

/** A path inside the fixture root, e.g. fixture("tiny-a", "prior"). */
export const fixture = (...parts: string[]): string => join(FIXTURES, ...parts);
