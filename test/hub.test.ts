import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import { after, afterEach, beforeEach, test } from "node:test";
import { hubCacheDir } from "../src/hub/cache.js";
import { missingPipelineFiles, selectFiles } from "../src/hub/pipeline-files.js";
import { ProgressBar, formatProgress } from "../src/hub/progress.js";
import type { DownloadProgress } from "../src/hub/download.js";
import { describeCache, resolveModel } from "../src/hub/resolve.js";
import { startHubServer, writePythonCache, type HubServer } from "./hub-server.js";
import { fixture } from "./fixtures.js";

const FIXTURES = fixture("tiny-a");
const PRIOR = "kandinsky-community/kandinsky-2-1-prior";
const DECODER = "kandinsky-community/kandinsky-2-1";
const INPAINT = "kandinsky-community/kandinsky-2-1-inpaint";
const FAKE_BIN = "unet/diffusion_pytorch_model.bin";
const HF_VARS = [
  "HF_HUB_CACHE",
  "HUGGINGFACE_HUB_CACHE",
  "HF_HOME",
  "XDG_CACHE_HOME",
  "HF_ENDPOINT",
  "HF_TOKEN",
  "HF_HUB_OFFLINE",
];

const savedEnv = Object.fromEntries(HF_VARS.map((k) => [k, process.env[k]]));
let cacheDir: string;
let servers: HubServer[] = [];

beforeEach(async () => {
  for (const k of HF_VARS) delete process.env[k];
  cacheDir = await mkdtemp(join(tmpdir(), "hub-cache-"));
  process.env["HF_HUB_CACHE"] = cacheDir;
});
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  await rm(cacheDir, { recursive: true, force: true });
});
after(() => {
  for (const [k, v] of Object.entries(savedEnv)) if (v === undefined) delete process.env[k];
  else process.env[k] = v;
});

async function serve(sources: Parameters<typeof startHubServer>[0]): Promise<HubServer> {
  const server = await startHubServer(sources);
  servers.push(server);
  process.env["HF_ENDPOINT"] = server.url;
  return server;
}

const allRepos = () =>
  serve({
    [PRIOR]: { dir: join(FIXTURES, "prior") },
    [DECODER]: { dir: join(FIXTURES, "decoder"), extra: { [FAKE_BIN]: Buffer.from("pickle, not wanted") } },
    [INPAINT]: { dir: join(FIXTURES, "inpaint") },
  });

const repoDir = (id: string) => join(cacheDir, `models--${id.replace("/", "--")}`);

/** A port with nothing listening: connecting fails with ECONNREFUSED. */
async function deadEndpoint(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((done) => probe.listen(0, "127.0.0.1", done));
  const { port } = probe.address() as { port: number };
  await new Promise((done) => probe.close(done));
  return `http://127.0.0.1:${port}`;
}

test("the cache dir is HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub", () => {
  assert.equal(hubCacheDir(), cacheDir);
  delete process.env["HF_HUB_CACHE"];
  process.env["HF_HOME"] = "/data/hf";
  assert.equal(hubCacheDir(), "/data/hf/hub");
  delete process.env["HF_HOME"];
  assert.equal(hubCacheDir(), join(homedir(), ".cache", "huggingface", "hub"));
});

test("selectFiles keeps configs, tokenizer files and one safetensors set per component", () => {
  const listing = [
    "model_index.json",
    "README.md",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "unet/diffusion_pytorch_model.fp16.safetensors",
    "unet/diffusion_pytorch_model.bin",
    "unet/diffusion_pytorch_model.onnx",
    "movq/diffusion_pytorch_model.safetensors.index.json",
    "movq/diffusion_pytorch_model-00001-of-00002.safetensors",
    "movq/diffusion_pytorch_model-00002-of-00002.safetensors",
    "text_encoder/model.fp16.safetensors",
    "text_encoder/flax_model.msgpack",
    "scheduler/scheduler_config.json",
    "tokenizer/sentencepiece.bpe.model",
    "tokenizer/notes.txt",
    "image_processor/preprocessor_config.json",
  ];
  assert.deepEqual(selectFiles(listing).sort(), [
    "image_processor/preprocessor_config.json",
    "model_index.json",
    "movq/diffusion_pytorch_model-00001-of-00002.safetensors",
    "movq/diffusion_pytorch_model-00002-of-00002.safetensors",
    "movq/diffusion_pytorch_model.safetensors.index.json",
    "scheduler/scheduler_config.json",
    "text_encoder/model.fp16.safetensors", // only fp16 exists: fallback
    "tokenizer/sentencepiece.bpe.model",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
  ]);
  const fp16 = selectFiles(listing, "fp16");
  assert.ok(fp16.includes("unet/diffusion_pytorch_model.fp16.safetensors"));
  assert.ok(!fp16.includes("unet/diffusion_pytorch_model.safetensors"));
  assert.ok(fp16.includes("movq/diffusion_pytorch_model.safetensors.index.json")); // no fp16: fallback
});

test("selectFiles takes a component's .bin only when it has no safetensors: single file, else index + shards", () => {
  const listing = [
    "model_index.json",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "unet/diffusion_pytorch_model.bin",
    "movq/config.json",
    "movq/diffusion_pytorch_model.bin",
    "movq/diffusion_pytorch_model.fp16.bin",
    "text_encoder/config.json",
    "text_encoder/pytorch_model.bin.index.json",
    "text_encoder/pytorch_model-00001-of-00002.bin",
    "text_encoder/pytorch_model-00002-of-00002.bin",
    "text_encoder/training_args.bin",
    "prior/config.json",
    "prior/diffusion_pytorch_model.fp16.safetensors",
    "prior/diffusion_pytorch_model.bin",
    "image_encoder/config.json",
    "image_encoder/model.bin", // transformers names its pickles pytorch_model.bin: not a weight file
    "image_encoder/pytorch_model.safetensors",
  ];
  assert.deepEqual(selectFiles(listing).sort(), [
    "image_encoder/config.json",
    "model_index.json",
    "movq/config.json",
    "movq/diffusion_pytorch_model.bin",
    "prior/config.json",
    "prior/diffusion_pytorch_model.fp16.safetensors", // fp16 safetensors beat a float32 .bin
    "text_encoder/config.json",
    "text_encoder/pytorch_model-00001-of-00002.bin",
    "text_encoder/pytorch_model-00002-of-00002.bin",
    "text_encoder/pytorch_model.bin.index.json",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
  ]);
  assert.ok(selectFiles(listing, "fp16").includes("movq/diffusion_pytorch_model.fp16.bin"));
});

test("a .bin-only component is downloaded and the snapshot is complete; where both formats exist no .bin is fetched", async () => {
  const real = fixture("real-layout");
  const server = await serve({ [DECODER]: { dir: join(real, "decoder"), omit: ["unet/diffusion_pytorch_model.safetensors"] } });
  const dir = await resolveModel(DECODER);
  const bins = [...server.repo(DECODER).files.keys()].filter((p) => p.endsWith(".bin"));
  assert.deepEqual(bins.sort(), ["movq/diffusion_pytorch_model.bin", "text_encoder/pytorch_model.bin", "unet/diffusion_pytorch_model.bin"]);
  for (const bin of bins) assert.equal(server.count(DECODER, bin) > 0, bin === "unet/diffusion_pytorch_model.bin", bin);
  assert.deepEqual(await readFile(join(dir, "unet/diffusion_pytorch_model.bin")), await readFile(join(real, "decoder/unet/diffusion_pytorch_model.bin")));
  assert.deepEqual(await missingPipelineFiles(dir), []);

  // Offline, that snapshot is complete as it is; with its .bin blob gone, it is not.
  process.env["HF_HUB_OFFLINE"] = "1";
  assert.equal(await resolveModel(DECODER), dir);
  await rm(join(dirname(join(dir, "unet/diffusion_pytorch_model.bin")), await readlink(join(dir, "unet/diffusion_pytorch_model.bin"))));
  assert.deepEqual(await missingPipelineFiles(dir), ["unet/diffusion_pytorch_model.bin is missing"]);
});

test("sharded .bin weights need every shard their index names", async () => {
  const root = await mkdtemp(join(tmpdir(), "bin-shards-"));
  try {
    await writeFile(join(root, "model_index.json"), JSON.stringify({ _class_name: "X", text_encoder: ["transformers", "CLIPTextModel"] }));
    await mkdir(join(root, "text_encoder"));
    const index = { weight_map: { a: "pytorch_model-00001-of-00002.bin", b: "pytorch_model-00002-of-00002.bin" } };
    for (const [name, text] of [["config.json", "{}"], ["pytorch_model.bin.index.json", JSON.stringify(index)], ["pytorch_model-00001-of-00002.bin", "x"]]) {
      await writeFile(join(root, "text_encoder", name!), text!);
    }
    assert.deepEqual(await missingPipelineFiles(root), ["text_encoder/pytorch_model-00002-of-00002.bin is missing"]);
    await rm(join(root, "text_encoder", "pytorch_model.bin.index.json"));
    await rm(join(root, "text_encoder", "pytorch_model-00001-of-00002.bin"));
    assert.deepEqual(await missingPipelineFiles(root), ["text_encoder/ has no weights (safetensors or .bin)"]);
    await writeFile(join(root, "text_encoder", "pytorch_model.bin.index.json"), JSON.stringify(index));
    await writeFile(join(root, "text_encoder", "pytorch_model-00001-of-00002.bin"), "x");
    await writeFile(join(root, "text_encoder", "pytorch_model-00002-of-00002.bin"), "y");
    assert.deepEqual(await missingPipelineFiles(root), []);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("a download's check sees model_index.json and the configs before any weight file is fetched", async () => {
  const server = await allRepos();
  const seen: string[] = [];
  await assert.rejects(
    resolveModel(DECODER, {
      check: async (dir) => {
        seen.push(JSON.parse(await readFile(join(dir, "unet/config.json"), "utf8"))._class_name);
        throw new Error("not the model you want");
      },
    }),
    /^Error: not the model you want$/,
  );
  assert.deepEqual(seen, ["UNet2DConditionModel"]);
  const fetched = server.requests.filter((r) => r.repo === DECODER && r.file).map((r) => r.file!);
  assert.ok(fetched.includes("model_index.json") && fetched.includes("unet/config.json"), fetched.join(", "));
  assert.deepEqual(fetched.filter((f) => /\.(safetensors|bin)$/.test(f)), [], "no weight file");
  await assert.rejects(stat(join(repoDir(DECODER), "refs", "main")), "no ref: the snapshot is not complete");

  // The check runs on a complete cached snapshot and on a local folder too.
  const dir = await resolveModel(DECODER);
  await assert.rejects(resolveModel(DECODER, { check: () => { throw new Error("cached, but no"); } }), /cached, but no/);
  await assert.rejects(resolveModel(dir, { check: () => { throw new Error("local, but no"); } }), /local, but no/);
});

test("downloads the tiny pipelines into an empty cache in Python's layout, then resolves them offline", async () => {
  const server = await allRepos();
  const resolved = new Map<string, string>();
  for (const id of [PRIOR, DECODER, INPAINT]) {
    const events: DownloadProgress[] = [];
    const dir = await resolveModel(id, { onProgress: (p) => events.push(p) });
    const { commit, files } = server.repo(id);
    assert.equal(dir, join(repoDir(id), "snapshots", commit));
    assert.equal(await readFile(join(repoDir(id), "refs", "main"), "utf8"), commit); // no newline, as Python reads it

    const expected = selectFiles([...files.keys()]);
    const total = expected.reduce((sum, p) => sum + files.get(p)!.content.length, 0);
    assert.equal(events.at(-1)!.done, total);
    assert.equal(events.at(-1)!.total, total);
    assert.ok(events.every((e, i) => i === 0 || e.done >= events[i - 1]!.done));

    for (const path of expected) {
      const file = files.get(path)!;
      const pointer = join(dir, path);
      assert.ok((await lstat(pointer)).isSymbolicLink(), path);
      const target = await readlink(pointer);
      assert.ok(!isAbsolute(target), `${path} -> ${target} must be relative`);
      assert.equal(join(dirname(pointer), target), join(repoDir(id), "blobs", file.lfsOid ?? file.gitOid));
      assert.deepEqual(await readFile(pointer), file.content, path);
    }
    resolved.set(id, dir);
  }
  assert.equal(server.count(DECODER, FAKE_BIN), 0);
  assert.equal(server.count(DECODER, "movq/diffusion_pytorch_model.fp16.safetensors"), 0);
  await assert.rejects(stat(join(resolved.get(DECODER)!, FAKE_BIN)));

  const before = server.requests.length;
  assert.equal(await resolveModel(DECODER), resolved.get(DECODER));
  assert.equal(server.requests.length, before, "a complete cached snapshot needs no request");

  await server.close();
  process.env["HF_HUB_OFFLINE"] = "1";
  for (const [id, dir] of resolved) assert.equal(await resolveModel(id), dir);
  const description = await describeCache();
  assert.match(description, new RegExp(`${DECODER}  [\\d.]+ MB\\n    main  complete  `));
});

test("variant fp16 fetches fp16 weights and falls back where a component has none", async () => {
  const server = await allRepos();
  const dir = await resolveModel(DECODER, { variant: "fp16" });
  assert.equal(server.count(DECODER, "movq/diffusion_pytorch_model.fp16.safetensors"), 2); // resolve + CDN
  assert.equal(server.count(DECODER, "movq/diffusion_pytorch_model.safetensors"), 0);
  await stat(join(dir, "unet/diffusion_pytorch_model.safetensors"));
});

test("an interrupted download resumes with a Range request and yields the identical file", async () => {
  const server = await allRepos();
  const path = "unet/diffusion_pytorch_model.safetensors";
  const { content, lfsOid } = server.repo(DECODER).files.get(path)!;
  server.cutNext(DECODER, path, 1_000_000);
  await assert.rejects(resolveModel(DECODER), /download of unet\/diffusion_pytorch_model\.safetensors was interrupted .*run again to resume/);
  await assert.rejects(stat(join(repoDir(DECODER), "refs", "main")), "no ref before the download completes");
  const partial = (await stat(join(repoDir(DECODER), "blobs", `${lfsOid}.incomplete`))).size;
  assert.ok(partial > 0 && partial < content.length, `partial size ${partial}`);

  const events: DownloadProgress[] = [];
  const dir = await resolveModel(DECODER, { onProgress: (p) => events.push(p) });
  const total = selectFiles([...server.repo(DECODER).files.keys()]).reduce(
    (sum, p) => sum + server.repo(DECODER).files.get(p)!.content.length,
    0,
  );
  assert.ok(events.every((e, i) => e.done <= total && (i === 0 || e.done >= events[i - 1]!.done)));
  assert.equal(events.at(-1)!.done, total); // cached files and the resumed part count once
  const gets = server.requests.filter((r) => r.repo === DECODER && r.file === path && r.path.startsWith("/cdn-lfs/"));
  assert.equal(gets.length, 2);
  assert.equal(gets[0]!.range, undefined);
  assert.equal(gets[1]!.range, `bytes=${partial}-${content.length - 1}`);
  assert.deepEqual(await readFile(join(dir, path)), content);
  await assert.rejects(stat(join(repoDir(DECODER), "blobs", `${lfsOid}.incomplete`)));
});

test("a cache laid out by Python's huggingface_hub is used offline", async () => {
  process.env["HF_ENDPOINT"] = await deadEndpoint();
  process.env["HF_HUB_OFFLINE"] = "1";
  const commit = createHash("sha1").update("python").digest("hex");
  const snapshot = await writePythonCache(cacheDir, PRIOR, join(FIXTURES, "prior"), commit);
  const dir = await resolveModel(PRIOR);
  assert.equal(dir, snapshot);
  assert.deepEqual(await readFile(join(dir, "prior/config.json")), await readFile(join(FIXTURES, "prior/prior/config.json")));

  // A snapshot whose weights blob is gone is not complete: offline, that is the clear error.
  await rm(await readlink(join(dir, "prior/diffusion_pytorch_model.safetensors")).then((t) => join(dir, "prior", t)));
  await assert.rejects(resolveModel(PRIOR), /is not in the Hugging Face cache/);
  assert.match(await describeCache(), /incomplete: prior\/diffusion_pytorch_model\.safetensors is missing/);
});

test("offline without a cached copy fails with a clear error", async () => {
  process.env["HF_ENDPOINT"] = await deadEndpoint();
  process.env["HF_HUB_OFFLINE"] = "1";
  await assert.rejects(resolveModel(DECODER), {
    message: `model ${DECODER} is not in the Hugging Face cache at ${cacheDir} and HF_HUB_OFFLINE is set`,
  });
  delete process.env["HF_HUB_OFFLINE"];
  await assert.rejects(resolveModel(DECODER, { offline: true }), /not in the Hugging Face cache at .* offline mode was requested/);
});

test("unknown repo, gated repo and unreachable hub give one-line errors naming the repo", async () => {
  const server = await serve({ "org/gated": { dir: join(FIXTURES, "prior"), token: "hf_secret" } });
  await assert.rejects(resolveModel("kandinsky-community/nope"), {
    message: `model kandinsky-community/nope was not found on ${server.url} (HTTP 404: Repository not found)`,
  });
  await assert.rejects(resolveModel("org/gated"), /^Error: model org\/gated: .* asks for authentication \(HTTP 401.*set HF_TOKEN$/);
  process.env["HF_TOKEN"] = "hf_secret";
  await resolveModel("org/gated");
  assert.ok(server.requests.filter((r) => r.repo === "org/gated").at(-1)!.authorization === "Bearer hf_secret");

  process.env["HF_ENDPOINT"] = await deadEndpoint();
  await assert.rejects(resolveModel(DECODER), new RegExp(`^Error: model ${DECODER}: cannot reach http://127\\.0\\.0\\.1:\\d+ \\(ECONNREFUSED\\)`));
});

test("a local folder is used as is and must hold model_index.json", async () => {
  assert.equal(await resolveModel(join(FIXTURES, "prior")), join(FIXTURES, "prior"));
  await assert.rejects(resolveModel(join(FIXTURES, "prior", "prior")), /has no model_index\.json/);
  await assert.rejects(resolveModel(join(FIXTURES, "prior", "model_index.json")), /is a file/);
  await assert.rejects(resolveModel("./no/such/folder"), /neither an existing folder nor a Hugging Face repo id/);
});

test("progress renders a redrawn bar on a TTY and plain lines otherwise", () => {
  assert.equal(
    formatProgress({ label: "unet", done: 1_500_000, total: 3_000_000, unit: "bytes", perSecond: 500_000, barWidth: 10 }),
    "unet   50%  [#####-----]  1.5 MB / 3.0 MB  500.0 kB/s  ETA 0:03",
  );
  assert.equal(
    formatProgress({ label: "denoise", done: 10, total: 50, unit: "steps", perSecond: 4, barWidth: 0 }),
    "denoise   20%  10/50 steps  4 steps/s  ETA 0:10",
  );
  const written: string[] = [];
  const plain = new ProgressBar({ label: "x", total: 4, unit: "steps", stream: { write: (t) => written.push(t) } });
  for (let i = 1; i <= 4; i++) plain.update(i);
  plain.finish();
  // The first update prints, the next are throttled, finish prints the end state.
  assert.equal(written.length, 2);
  assert.equal(written[0], "x   25%  1/4 steps\n");
  assert.match(written[1]!, /^x  100%  4\/4 steps( {2}\d+ steps\/s)?\n$/);

  const tty: string[] = [];
  const bar = new ProgressBar({ label: "x", total: 4, unit: "steps", stream: { write: (t) => tty.push(t), isTTY: true, columns: 60 } });
  bar.update(2);
  bar.finish();
  assert.match(tty[0]!, /^\r\x1b\[2Kx   50%  \[#+-+\]  2\/4 steps$/);
  assert.equal(tty.at(-1), "\n");
});
