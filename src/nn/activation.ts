import type { Value } from "../runtime/graph.js";

/** transformers / diffusers activation names. */
export function activation(name: string, x: Value): Value {
  switch (name) {
    case "quick_gelu": return x.quickGelu();
    case "gelu": return x.gelu();
    case "gelu_new": case "gelu_pytorch_tanh": return x.gelu("tanh");
    case "silu": case "swish": return x.silu();
    case "relu": return x.relu();
    default: throw new Error(`unsupported activation "${name}"`);
  }
}
