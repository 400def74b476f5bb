// JSON files of a tokenizer folder (tokenizer_config.json, special_tokens_map.json, tokenizer.json, vocab.json).
import { existsSync, readFileSync } from "node:fs";

/** The parsed file; undefined when it does not exist. */
export function readJsonFile(path: string): any {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
}
