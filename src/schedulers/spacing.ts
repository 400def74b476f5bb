// Inference timestep lists, as numpy computes them in diffusers 0.24's set_timesteps.
import type { TimestepSpacing } from "./config.js";
import { roundHalfEven } from "../f32/scalar.js";

/**
 * np.arange(start, stop, step) for floats: length ceil((stop - start) / step); values start + i * delta with
 * delta = (start + step) - start, as numpy's fill loop computes them.
 */
function arangeF64(start: number, stop: number, step: number): number[] {
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const delta = start + step - start;
  return Array.from({ length: n }, (_, i) => (i === 1 ? start + step : start + i * delta));
}

/**
 * DDIM/DDPM set_timesteps: "linspace" rounds linspace(0, T-1, N); "leading" takes multiples of T // N
 * plus steps_offset; "trailing" counts down from T in steps of T / N, minus one. Descending.
 */
export function spacedTimesteps(spacing: TimestepSpacing, numTrain: number, numInference: number, stepsOffset: number): number[] {
  if (!Number.isInteger(numInference) || numInference < 1 || numInference > numTrain) {
    throw new RangeError(`num_inference_steps must be an integer in [1, ${numTrain}], got ${numInference}`);
  }
  switch (spacing) {
    case "linspace": {
      const last = numTrain - 1;
      const step = numInference > 1 ? last / (numInference - 1) : 0;
      return Array.from({ length: numInference }, (_, i) => (i === numInference - 1 && i > 0 ? last : roundHalfEven(i * step))).reverse();
    }
    case "leading": {
      const ratio = Math.floor(numTrain / numInference);
      return Array.from({ length: numInference }, (_, i) => i * ratio + stepsOffset).reverse();
    }
    case "trailing": {
      const ts = arangeF64(numTrain, 0, -numTrain / numInference).map((x) => roundHalfEven(x) - 1);
      // For some N numpy's arange yields one extra value ~0, i.e. a timestep -1 that diffusers would index
      // from the end of its tables; refuse rather than run that bogus step.
      if (ts[ts.length - 1] < 0) {
        throw new RangeError(`"trailing" spacing with ${numInference} steps of ${numTrain} yields timestep -1 in the reference; use another step count`);
      }
      return ts;
    }
  }
}
