// The web page's files, read once at startup from src/server/public (plain HTML/CSS/JS, no build step).
// The path is relative to this module compiled to dist/src/server/, which is where it runs from.
import { readFile } from "node:fs/promises";

const PUBLIC = new URL("../../../src/server/public/", import.meta.url);

const TYPES: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
};

export interface Asset {
  body: Buffer;
  type: string;
}

export async function loadPage(): Promise<Map<string, Asset>> {
  const entries = await Promise.all(Object.entries(TYPES).map(async ([name, type]) => [name, { body: await readFile(new URL(name, PUBLIC)), type }] as const));
  return new Map(entries);
}
