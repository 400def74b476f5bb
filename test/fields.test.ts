// The request-field table and what derives from it: every field has its CLI flag (in --help, with its range and
// default), its schema entry and its web-form control; the library, the command line and the server reject the
// same out-of-range values, the server's own limits narrowing them only where a documented setting says so.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Command } from "commander";
import { addImageCommands } from "../src/cli/generate.js";
import { addServeCommand } from "../src/cli/serve.js";
import { UserError } from "../src/cli/errors.js";
import { encodeImage } from "../src/image/io.js";
import { rgbImage } from "../src/image/rgb.js";
import {
  A1111_NAMES, apiNames, COG_NAMES, FIELD_KEYS, FIELDS, fieldRange, LIMITS, OPENAI_NAMES, rangeText, SERVER_DEFAULT_KEYS, TASKS,
  type CliSpec, type FieldKey, type FieldSpec, type Task,
} from "../src/request/fields.js";
import { checkDefaults, RequestError, resolveOutput, resolveRequest } from "../src/request/resolve.js";
import { inputSchema } from "../src/server/schema.js";
import { LIMIT_DEFAULTS } from "../src/server/limits.js";
import { startServer } from "../src/server/index.js";
import { client } from "./server-helpers.js";

const spec = (k: FieldKey): FieldSpec => FIELDS[k];
const reads = (k: FieldKey, task: Task) => !spec(k).tasks || spec(k).tasks!.includes(task);
const commandOf = (task: Task) => FIELDS.task.cli.commands[task];

function program(): Command {
  const p = new Command("kandinsky").exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  addImageCommands(p);
  return p;
}

const help = (task: Task) => program().commands.find((c) => c.name() === commandOf(task))!.helpInformation();

test("every field: its CLI flag or argument in --help of its tasks' commands (range and default shown), and no other command's", () => {
  for (const task of TASKS) {
    const raw = help(task);
    const text = raw.replace(/\s+/g, " ");
    const usage = raw.split("\n")[0];
    for (const key of FIELD_KEYS) {
      const f = spec(key);
      const cli: CliSpec = f.cli;
      const shown = "flag" in cli ? [cli.flag] : "flags" in cli ? cli.flags : [];
      for (const s of shown) {
        assert.equal(text.includes(s), reads(key, task), `${commandOf(task)} --help ${reads(key, task) ? "lacks" : "has"} ${s} (${key})`);
      }
      if ("argument" in cli) assert.equal(usage.includes(cli.argument), reads(key, task), `${usage}: ${cli.argument} (${key})`);
      if (!reads(key, task) || !("flag" in cli)) continue;
      const range = rangeText(fieldRange(key));
      if (range) assert.ok(text.includes(range), `${cli.flag}: range "${range}" in --help`);
      const dflt = cli.note ?? (typeof f.default === "function" || f.kind === "boolean" ? undefined : f.default);
      if (dflt !== undefined) assert.ok(text.includes(`(default: ${dflt})`), `${cli.flag}: default ${dflt} in --help`);
      assert.ok(text.includes(f.description.replace(/\s+/g, " ")), `${cli.flag}: description in --help`);
    }
  }
  assert.deepEqual(program().commands.map((c) => c.name()), TASKS.map(commandOf));
});

test("every field: its Cog input in the schema with the table's type, range, default, choices and tasks", () => {
  const props = inputSchema().properties as Record<string, Record<string, unknown>>;
  const names = FIELD_KEYS.flatMap((k) => apiNames("cog", k));
  assert.deepEqual(Object.keys(props), names, "one property per Cog name, in table order, nothing else");
  for (const key of FIELD_KEYS) {
    const f = spec(key);
    for (const name of apiNames("cog", key)) {
      const p = props[name];
      assert.deepEqual(COG_NAMES[name], [key]);
      assert.deepEqual(p["x-tasks"], f.tasks, `${name} x-tasks`);
      assert.equal(p["x-form"], f.form, `${name} x-form`);
      if (f.kind === "mix") continue;
      if (typeof f.default !== "function") assert.equal(p.default, f.default, `${name} default`);
      assert.deepEqual(p.enum, f.values, `${name} choices`);
      for (const bound of ["minimum", "exclusiveMinimum", "maximum", "maxLength"] as const) assert.equal(p[bound], f[bound], `${name} ${bound}`);
    }
  }
  const mix = FIELDS.mix;
  assert.deepEqual((props.mix_weights.items as object), { type: "number", ...mix.weights });
  for (const n of apiNames("cog", "mix")) assert.equal(props[n].maxItems, mix.maxItems);
});

test("the server's limits narrow the schema where a field says so, and nowhere else", () => {
  const limits = { maxSize: 1000, maxOutputs: 3, maxSteps: 50 };
  const narrowed = inputSchema(limits).properties as Record<string, { maximum?: number }>;
  const wide = inputSchema().properties as Record<string, { maximum?: number }>;
  for (const key of FIELD_KEYS) {
    const f = spec(key);
    for (const name of apiNames("cog", key)) {
      const expected = f.limit ? Math.min(limits[f.limit], f.maximum!) : f.maximum;
      assert.equal(narrowed[name].maximum, expected, name);
      assert.equal(wide[name].maximum, f.maximum, name);
    }
  }
  // Every limit governs at least one field, and its flag is a serve option showing its default.
  const serve = new Command("kandinsky");
  addServeCommand(serve);
  const serveHelp = serve.commands[0].helpInformation().replace(/\s+/g, " ");
  for (const name of Object.keys(LIMITS) as (keyof typeof LIMITS)[]) {
    assert.ok(FIELD_KEYS.some((k) => spec(k).limit === name), name);
    assert.match(serveHelp, new RegExp(`${LIMITS[name]} <n> .*?\\(default: ${LIMIT_DEFAULTS[name]}\\)`), `serve --help: ${LIMITS[name]}`);
  }
});

test("every field: its control in the web form, which holds no number (limits and defaults come from /openapi.json)", async () => {
  const html = await readFile(new URL("../../src/server/public/index.html", import.meta.url), "utf8");
  const tags = new Map([...html.matchAll(/<(\w+)\b[^>]*\bid="([^"]+)"[^>]*>/g)].map((m) => [m[2], m[0]]));
  for (const key of FIELD_KEYS) {
    const id = spec(key).form ?? apiNames("cog", key)[0];
    const tag = tags.get(id);
    assert.ok(tag, `the form has no control #${id} for ${key}`);
    assert.doesNotMatch(tag, /\b(min|max|step|value)=/, `#${id} carries a limit or default: ${tag}`);
  }
  for (const id of ["scheduler", "output_format"]) assert.match(html, new RegExp(`<select id="${id}"></select>`), `#${id}'s choices come from the schema`);
  // The task radios are the table's tasks.
  assert.deepEqual([...html.matchAll(/name="task" value="([^"]+)"/g)].map((m) => m[1]), [...TASKS]);
});

test("the OpenAI and AUTOMATIC1111 names map onto fields", () => {
  const expectOpenAI = { prompt: ["prompt"], n: ["numOutputs"], size: ["width", "height"], output_format: ["outputFormat"], output_compression: ["outputQuality"],
    image: ["image"], mask: ["mask"], negative_prompt: ["negativePrompt"], num_inference_steps: ["steps"], guidance_scale: ["guidanceScale"],
    seed: ["seed"], scheduler: ["scheduler"] };
  for (const [name, keys] of Object.entries(expectOpenAI)) assert.deepEqual(OPENAI_NAMES[name], keys, name);
  for (const name of ["negative_prompt", "num_inference_steps", "guidance_scale", "seed", "scheduler"]) {
    assert.equal(spec(OPENAI_NAMES[name][0]).openai?.extra, true, `${name} is an extra body field`);
  }
  const expectA1111 = { prompt: "prompt", negative_prompt: "negativePrompt", seed: "seed", steps: "steps", cfg_scale: "guidanceScale", width: "width",
    height: "height", batch_size: "numOutputs", n_iter: "numOutputs", sampler_name: "scheduler", sampler_index: "scheduler",
    denoising_strength: "strength", mask: "mask", inpainting_mask_invert: "invertMask", init_images: "image" };
  for (const [name, key] of Object.entries(expectA1111)) assert.deepEqual(A1111_NAMES[name], [key], name);
});

test("resolveRequest: task inferred, defaults filled, the seed drawn once and kept, each task's needs checked", () => {
  const image = rgbImage(8, 8), mask = rgbImage(8, 8, new Uint8Array(64 * 3)); // any 3-channel image
  const r = resolveRequest({ prompt: "a cat" });
  assert.equal(r.task, "text2img");
  for (const key of FIELD_KEYS) {
    const d = spec(key).default;
    if (spec(key).group === "request" && d !== undefined && typeof d !== "function") assert.equal(r[key as keyof typeof r], d, key);
  }
  assert.ok(Number.isInteger(r.seed) && r.seed >= 0 && r.seed <= FIELDS.seed.maximum);
  assert.deepEqual(resolveRequest(r), r, "a resolved request resolves to itself: the seed is drawn once");
  assert.equal(resolveRequest({ prompt: "a", image }).task, "img2img");
  assert.equal(resolveRequest({ prompt: "a", image, mask: { width: 8, height: 8, data: new Uint8Array(64) } }).task, "inpaint");
  assert.equal(resolveRequest({ mix: [{ text: "a", weight: 1 }] }).task, "mix");

  const fails = (req: object, field: FieldKey, problem: RegExp) => assert.throws(() => resolveRequest(req as never), (e: Error) =>
    e instanceof RequestError && e.field === field && problem.test(e.problem!) && e.message === `${field} ${e.problem}`, JSON.stringify(Object.keys(req)));
  fails({}, "prompt", /^is required for task text2img$/);
  fails({ prompt: "" }, "prompt", /^is required for task text2img$/);
  fails({ task: "img2img", prompt: "a" }, "image", /^is required for task img2img$/);
  fails({ task: "inpaint", prompt: "a", image }, "mask", /^is required for task inpaint$/);
  fails({ task: "text2img", prompt: "a", image }, "image", /^is only used by task img2img or inpaint \(task is text2img\)$/);
  fails({ task: "mix", mix: [{ text: "a", weight: 1 }], negativePrompt: "b" }, "negativePrompt", /^is only used by task text2img, img2img, inpaint/);
  fails({ mix: [{ text: "a", weight: 1 }], numOutputs: 2 }, "numOutputs", /^must be 1 for task mix, got 2$/);
  fails({ prompt: "a", image, mask }, "mask", /one-channel image/);
  fails({ mix: [] }, "mix", /at least one/);
  fails({ mix: [{ text: "a", image, weight: 1 }] }, "mix", /^item 0 must have a text or an image/);
  fails({ mix: [{ text: "a", weight: 11 }] }, "mix", /^item 0: the weight must be a number from -10 to 10, got 11$/);
  fails({ mix: Array.from({ length: FIELDS.mix.maxItems + 1 }, () => ({ text: "a", weight: 0 })) }, "mix", /at most 16/);
  fails({ prompt: "x".repeat(FIELDS.prompt.maxLength + 1) }, "prompt", /^must be at most 2000 characters/);
  fails({ prompt: "a", scheduler: "euler" }, "scheduler", /^must be one of ddim, ddpm, dpmpp_2m, got "euler"$/);
  fails({ prompt: "a", task: "paint" }, "task", /^must be one of text2img, img2img, inpaint, mix/);
  assert.throws(() => resolveRequest({ prompt: "a", guidance: 5 } as never), /^Error: unknown request field "guidance"$/);
  // A field with a default that the task does not read is ignored, as clients send every field.
  assert.equal(resolveRequest({ prompt: "a", strength: 0.5 }).task, "text2img");
  assert.equal(resolveRequest({ mix: [{ text: "a", weight: 1 }], negativePrompt: "" }).negativePrompt, undefined, "an empty text says nothing");
  assert.deepEqual(resolveOutput({}), { outputFormat: "png", outputQuality: 80 });
  assert.throws(() => resolveOutput({ outputQuality: 0 }), /^Error: outputQuality must be an integer from 1 to 100, got 0$/);
});

/** Each bounded number field: values just outside its range, and its bounds (inside). */
function boundaryCases(): { key: FieldKey; outside: number[]; inside: number[] }[] {
  return FIELD_KEYS.filter((k) => spec(k).kind === "integer" || spec(k).kind === "number").map((key) => {
    const f = spec(key);
    const d = f.kind === "integer" ? 1 : 0.5;
    const outside = [
      ...(f.minimum !== undefined ? [f.minimum - d] : []), ...(f.exclusiveMinimum !== undefined ? [f.exclusiveMinimum] : []),
      ...(f.maximum !== undefined ? [f.maximum + d] : []), ...(f.kind === "integer" ? [(f.minimum ?? 0) + 0.5] : []),
    ];
    const inside = [...(f.minimum !== undefined ? [f.minimum] : []), ...(f.maximum !== undefined ? [f.maximum] : [])];
    return { key, outside, inside };
  });
}

/** The task a field is tried with. */
const base = (key: FieldKey): Task => (reads(key, "text2img") ? "text2img" : "img2img");
/** A library request of `key`'s task with `key` set to `v`. */
const libraryRequest = (key: FieldKey, v: number) =>
  ({ prompt: "a", ...(base(key) === "img2img" ? { task: "img2img" as const, image: rgbImage(16, 16) } : {}), [key]: v });

let work: string;
let png: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), "kandinsky-fields-"));
  png = join(work, "in.png");
  await writeFile(png, await encodeImage(rgbImage(16, 16), "png"));
});
after(() => rm(work, { recursive: true, force: true }));

test("the library and the command line reject the same out-of-range values, the CLI naming the flag", async () => {
  for (const { key, outside, inside } of boundaryCases()) {
    const resolve = (v: number) => (spec(key).group === "output" ? resolveOutput({ [key]: v }) : resolveRequest(libraryRequest(key, v)));
    for (const v of inside) assert.doesNotThrow(() => resolve(v), `${key} = ${v}`);
    for (const v of outside) {
      assert.throws(() => resolve(v), (e: Error) => e instanceof RequestError && e.field === key, `library: ${key} = ${v}`);
      const cli: CliSpec = spec(key).cli;
      assert.ok("flag" in cli);
      const flag = cli.flag.split(" ")[0];
      const task = base(key);
      const args = task === "text2img" ? ["generate", "a"] : ["img2img", png, "a"];
      const extra = key === "outputQuality" ? ["--format", "jpeg"] : [];
      await assert.rejects(program().parseAsync([...args, ...extra, flag, String(v)], { from: "user" }), (e: Error) => {
        // Commander's own parsers refuse what is not a number of the right form; the library refuses the range.
        if (e instanceof UserError) return e.message.startsWith(`${flag} must be`);
        return (e as { code?: string }).code === "commander.invalidArgument" && Number.isInteger(v) === false;
      }, `CLI: ${flag} ${v}`);
    }
  }
});

test("the server rejects the same values as the library when its limits are the library's; its default limits narrow them", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "kandinsky-fields-server-"));
  // No models: a valid input gets 503 (still loading), an invalid one 422, and nothing runs.
  const models = () => new Promise<never>(() => {});
  const widest = { maxSize: FIELDS.width.maximum, maxOutputs: FIELDS.numOutputs.maximum, maxSteps: FIELDS.priorSteps.maximum };
  const wide = await startServer({ host: "127.0.0.1", port: 0, queueSize: 0, dataDir: join(dataDir, "wide"), models, ...widest });
  const narrow = await startServer({ host: "127.0.0.1", port: 0, queueSize: 0, dataDir: join(dataDir, "narrow"), models });
  try {
    const post = (url: string, input: object) => client(url)("POST", "/predictions", { input });
    const inputOf = (key: FieldKey, v: number) => {
      const task = base(key);
      return { prompt: "a", ...(task === "img2img" ? { task, image: "data:image/png;base64,AAAA" } : {}), [apiNames("cog", key)[0]]: v };
    };
    for (const { key, outside, inside } of boundaryCases()) {
      const name = apiNames("cog", key)[0];
      for (const v of inside) assert.equal((await post(wide.url, inputOf(key, v))).status, 503, `${name} = ${v} passes validation`);
      for (const v of outside) {
        const r = await post(wide.url, inputOf(key, v));
        assert.equal(r.status, 422, `${name} = ${v}`);
        assert.deepEqual(r.body.detail[0].loc, ["body", "input", name]);
      }
    }
    // The defaults: the Replicate model's ranges, published and enforced; the library's go further.
    const props = (await client(narrow.url)("GET", "/openapi.json")).body.components.schemas.Input.properties;
    for (const key of FIELD_KEYS) {
      const f = spec(key);
      if (!f.limit) continue;
      const cap = LIMIT_DEFAULTS[f.limit];
      const name = apiNames("cog", key)[0];
      assert.equal(props[name].maximum, Math.min(cap, f.maximum!), name);
      if (cap >= f.maximum!) continue;
      assert.equal((await post(narrow.url, inputOf(key, cap))).status, 503, `${name} = ${cap}`);
      const r = await post(narrow.url, inputOf(key, cap + 1));
      assert.equal(r.status, 422, `${name} = ${cap + 1}`);
      assert.equal(r.body.detail[0].msg, `input.${name} must be <= ${cap}`);
      assert.doesNotThrow(() => resolveRequest(libraryRequest(key, cap + 1)), `the library takes ${key} = ${cap + 1}`);
      // Every other API of the server resolves with the same limits (admit.ts), and says which setting refused.
      assert.throws(() => resolveRequest(libraryRequest(key, cap + 1), { limits: LIMIT_DEFAULTS }),
        (e: Error) => e instanceof RequestError && e.field === key && e.problem!.endsWith(`(this server's limit, ${LIMITS[f.limit!]})`));
    }
  } finally {
    await wide.close();
    await narrow.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test("a server limit outside what the library allows is refused at startup", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "kandinsky-fields-limits-"));
  try {
    for (const [name, value] of [["maxSize", 8192], ["maxSteps", 1], ["maxOutputs", 0]] as const) {
      await assert.rejects(startServer({ host: "127.0.0.1", port: 0, queueSize: 0, dataDir, models: () => new Promise(() => {}), [name]: value }),
        new RegExp(`^Error: ${LIMITS[name]} must be an integer from \\d+ to \\d+, got ${value}$`));
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test("a server's defaults (serve --precision): published in its schema and filled in where a request gives none; only fields that allow one, with values they take", async () => {
  assert.ok(SERVER_DEFAULT_KEYS.length > 0);
  const serve = new Command("kandinsky").exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  addServeCommand(serve);
  const serveHelp = serve.commands[0].helpInformation().replace(/\s+/g, " ");
  for (const key of SERVER_DEFAULT_KEYS) {
    const cli: CliSpec = spec(key).cli;
    assert.ok("flag" in cli && serveHelp.includes(`${cli.flag} the default of requests that give none`), `serve --help: ${key}`);
  }
  await assert.rejects(serve.parseAsync(["serve", "--precision", "int4"], { from: "user" }), /argument 'int4' is invalid/);

  const defaults = { precision: "int8" } as const;
  const props = inputSchema({}, defaults).properties as Record<string, { default?: unknown }>;
  const plain = inputSchema().properties as Record<string, { default?: unknown }>;
  for (const [name, p] of Object.entries(props)) assert.equal(p.default, name === "precision" ? "int8" : plain[name].default, name);
  assert.equal(plain.precision.default, FIELDS.precision.default);
  assert.equal(resolveRequest({ prompt: "a" }, { defaults }).precision, "int8");
  assert.equal(resolveRequest({ prompt: "a", precision: "fp32" }, { defaults }).precision, "fp32", "a request's own value wins");
  assert.equal(resolveRequest({ prompt: "a" }).precision, FIELDS.precision.default);
  assert.throws(() => checkDefaults({ seed: 3 }), (e: Error) => e instanceof RequestError && e.message === `a server cannot set the default of "seed"`);
  assert.throws(() => checkDefaults({ precision: "int4" }), (e: Error) => e instanceof RequestError && e.field === "precision");

  const dataDir = await mkdtemp(join(tmpdir(), "kandinsky-fields-defaults-"));
  const models = () => new Promise<never>(() => {});
  await assert.rejects(startServer({ host: "127.0.0.1", port: 0, queueSize: 0, dataDir, models, defaults: { precision: "int4" as never } }),
    /precision must be one of fp32, int8, got "int4"/);
  const server = await startServer({ host: "127.0.0.1", port: 0, queueSize: 0, dataDir, models, defaults });
  try {
    const published = (await client(server.url)("GET", "/openapi.json")).body.components.schemas.Input.properties;
    assert.equal(published.precision.default, "int8");
  } finally {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});

/** The README's table of request fields, as the field table gives it. */
function readmeTable(): string {
  const code = (xs: readonly string[]) => xs.map((x) => `\`${x}\``).join(", ");
  const rows = FIELD_KEYS.map((key) => {
    const f = spec(key);
    const cli: CliSpec = f.cli;
    const cliText = "flag" in cli ? code([cli.flag.split(" ")[0]]) : "argument" in cli ? code([cli.argument]) : "flags" in cli
      ? code(cli.flags.map((x) => x.split(" ")[0])) : `the command: ${code(TASKS.map(commandOf))}`;
    const openai = f.openai ? `${code([f.openai.name])}${f.openai.extra ? " (extra)" : ""}` : "";
    const r = fieldRange(key);
    const range = f.values ? code(f.values) : f.kind === "mix" ? `1–${f.maxItems} items, weights ${rangeText(f.weights!)}`
      : f.maxLength !== undefined ? `≤ ${f.maxLength} characters` : rangeText(r);
    const limit = f.limit ? `; server: \`${LIMITS[f.limit]}\`, default ${LIMIT_DEFAULTS[f.limit]}` : "";
    const dflt = key === "task" ? "inferred" : key === "seed" ? "random" : f.default === undefined ? "" : code([String(f.default)]);
    return `| \`${key}\` | ${cliText} | ${code(apiNames("cog", key))} | ${openai} | ${code(apiNames("a1111", key))} | ${range}${limit} | ${dflt} | ${f.description.replaceAll("|", "\\|")} |`;
  });
  return ["| library | CLI | Cog input | OpenAI | AUTOMATIC1111 | range | default | what it is |", "|---|---|---|---|---|---|---|---|", ...rows].join("\n");
}

test("the README's field table is the table's", async () => {
  const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");
  const expected = readmeTable();
  assert.ok(readme.includes(`${expected}\n`), `README.md's request-field table differs from src/request/fields.ts; it should read:\n\n${expected}\n`);
});
