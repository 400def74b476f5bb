// The bench's int8 calibration: its random-weight sets have no tokenizers to run our calibration prompts through,
// so each network is calibrated on the bench's own inputs (CALIBRATION_RUNS seeds of them) and its ranges kept under
// BENCH_RECIPE, apart from the pipelines' calibrations.
import { openCalibrationSession, type Network } from "../src/models/network.js";
import { rangesFile, rangesFromRuns, readRanges, writeRanges, type Ranges } from "../src/runtime/int8.js";
import type { HostArray, Provider } from "../src/runtime/session.js";

export const BENCH_RECIPE = "bench-random-v1";
const CALIBRATION_RUNS = 4;

/**
 * The calibrated ranges of `net` under BENCH_RECIPE: those kept in the cache folder `root`, else calibrated on
 * `feeds(seed)` (and kept there).
 */
export async function benchRanges(net: Network<unknown>, feeds: (seed: number) => Record<string, HostArray>, root: string | undefined,
  provider: Provider): Promise<Ranges> {
  const file = root && rangesFile(net.graph, BENCH_RECIPE, root);
  const known = file && readRanges(file);
  if (known) return known;
  let keys: string[] = [];
  const runs: Float32Array[] = [];
  const session = await openCalibrationSession(net, { provider }, (k, r) => {
    keys = k;
    runs.push(r);
  });
  try {
    for (let i = 0; i < CALIBRATION_RUNS; i++) await session.run(feeds(0x9e3779b9 + i));
  } finally {
    await session.release();
  }
  const ranges = rangesFromRuns(keys, runs);
  if (file) writeRanges(file, ranges);
  return ranges;
}
