import type { BuildOptions } from "../weights/weight-view.js";
import type { SessionOptions } from "../runtime/session.js";

/** How the parity runner builds and runs networks (the attention form and provider under test). */
export interface ParityOptions {
  build: BuildOptions;
  session: SessionOptions;
}
