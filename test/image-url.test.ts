// Image inputs given as URLs: the size limit (data URLs, a declared length, a body without one) and the time
// limit (no answer, a stalled body), on loopback; and a refusal as the API reports it.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { IMAGE_URL_LIMITS, readImageUrl } from "../src/server/image-url.js";
import { UrlPolicy } from "../src/server/url-policy.js";
import { client, loopback, serve, small } from "./server-helpers.js";

const openPolicy = new UrlPolicy({ denyPrivate: false, allowHosts: [] });
const LIMIT = IMAGE_URL_LIMITS.maxBytes;
const TOO_BIG = `is larger than ${LIMIT / 2 ** 20} MiB`;
const MiB = Buffer.alloc(2 ** 20, 7);

/** Serves `bytes` of body in 1 MiB writes, declaring its length or not (chunked). */
const body = (bytes: number, declared: boolean) => loopback((_req, res) => {
  res.writeHead(200, declared ? { "content-length": String(bytes) } : {});
  let left = bytes;
  const more = () => {
    while (left > 0) {
      const n = Math.min(left, MiB.length);
      left -= n;
      if (!res.write(MiB.subarray(0, n))) return void res.once("drain", more);
    }
    res.end();
  };
  res.on("error", () => {}); // the client hanging up mid-body
  more();
});

test("data URLs: as large as the limit, not a byte more", async () => {
  const url = (n: number) => `data:image/png;base64,${Buffer.alloc(n, 1).toString("base64")}`;
  assert.equal((await readImageUrl(url(LIMIT), openPolicy)).length, LIMIT);
  await assert.rejects(readImageUrl(url(LIMIT + 1), openPolicy), { message: TOO_BIG });
});

test("downloads: a body as large as the limit is read, with or without a declared length; past it, refused", async () => {
  for (const declared of [true, false]) {
    const exact = await body(LIMIT, declared);
    const over = await body(LIMIT + 1, declared);
    try {
      assert.equal((await readImageUrl(`${exact.url}/a.png`, openPolicy)).length, LIMIT);
      await assert.rejects(readImageUrl(`${over.url}/a.png`, openPolicy), { message: TOO_BIG }, `declared length: ${declared}`);
    } finally {
      await exact.close();
      await over.close();
    }
  }
});

test("a declared length past the limit is refused from the headers, before any of the body", async () => {
  // The body never comes: waiting for it would end at the time limit, with another error.
  const server = await loopback((_req, res) => void res.writeHead(200, { "content-length": String(LIMIT + 1) }).flushHeaders());
  try {
    await assert.rejects(readImageUrl(`${server.url}/a.png`, openPolicy, { ...IMAGE_URL_LIMITS, timeoutMs: 2000 }), { message: TOO_BIG });
  } finally {
    await server.close();
  }
});

test("a download past the time limit is abandoned, whether the headers or the body stall", async () => {
  const limits = { ...IMAGE_URL_LIMITS, timeoutMs: 200 };
  const silent = await loopback(() => {});
  const stalled = await loopback((_req, res) => {
    res.writeHead(200, { "content-length": "1000" });
    res.write(Buffer.alloc(10));
  });
  try {
    for (const server of [silent, stalled]) {
      await assert.rejects(readImageUrl(`${server.url}/a.png`, openPolicy, limits), { message: "could not be downloaded: took longer than 0.2 s" });
    }
  } finally {
    await silent.close();
    await stalled.close();
  }
});

test("through the API: an image URL past the size limit is a 422 naming the field", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "kandinsky-image-url-"));
  const over = await body(LIMIT + 1, false);
  const server = await serve({ dataDir });
  try {
    const r = await client(server.url)("POST", "/predictions", { input: { ...small, task: "img2img", image: `${over.url}/a.png` } });
    assert.equal(r.status, 422);
    assert.deepEqual(r.body.detail.map((d: { loc: unknown; msg: string }) => [d.loc, d.msg]), [[["body", "input", "image"], `input.image ${TOO_BIG}`]]);
  } finally {
    await server.close();
    await over.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
