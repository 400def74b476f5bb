// diffusers / transformers JSON configs: `config.json`, `model_index.json`, `scheduler_config.json`.
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";

export class ConfigError extends Error {}

export function readJson<T = Record<string, any>>(path: string): T {
  if (!existsSync(path)) throw new ConfigError(`${path}: file not found`);
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch (e) {
    throw new ConfigError(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

/** The parsed file, or undefined when it does not exist (optional files such as tokenizer_config.json). */
export function readOptionalJson<T = any>(path: string): T | undefined {
  return existsSync(path) ? readJson<T>(path) : undefined;
}

/** A component folder's `config.json`. */
export function readConfig<T = Record<string, any>>(componentDir: string): T {
  return readJson<T>(join(componentDir, "config.json"));
}

/** model_index.json: component name → [library, class name]. */
export interface ModelIndex {
  _class_name: string;
  components: Record<string, { library: string; className: string }>;
}

export function readModelIndex(repoDir: string): ModelIndex {
  const raw = readJson(join(repoDir, "model_index.json"));
  const components: ModelIndex["components"] = {};
  for (const [k, v] of Object.entries(raw)) {
    if (!k.startsWith("_") && Array.isArray(v) && v.length === 2 && v[1] !== null) {
      components[k] = { library: String(v[0]), className: String(v[1]) };
    }
  }
  return { _class_name: String(raw._class_name ?? ""), components };
}

/**
 * A raw config with every key of `defaults` that the file lacks set to its default, as diffusers' and transformers'
 * from_config pass the file's keys to a constructor whose keyword defaults fill the rest. `defaults` holds a class's
 * constructor defaults by config key (null = Python's None); a null in the file stays null, as it does there.
 */
export function withDefaults(raw: Record<string, any>, defaults: Readonly<Record<string, unknown>>): Record<string, any> {
  const filled: Record<string, any> = { ...raw };
  for (const [key, value] of Object.entries(defaults)) if (filled[key] === undefined) filled[key] = value;
  return filled;
}
