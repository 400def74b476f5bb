// The image commands: generate (text to image), img2img, inpaint and mix, one per task, their arguments and
// options derived from the request-field table. Each parses its inputs into a GenerateRequest; all then run the
// same job: resolve the request (checks, defaults, the seed), resolve the models, run in the engine's worker with
// progress, write the images, report.
import { InvalidArgumentError, type Command } from "commander";
import { Engine } from "../engine/engine.js";
import {
  FIELDS, rangeText, type CliSpec, type FieldKey, type GenerateRequest, type MixItem, type OutputRequest, type ResolvedOutput,
  type ResolvedRequest, type Task,
} from "../request/fields.js";
import { RequestError, resolveOutput, resolveRequest } from "../request/resolve.js";
import { addFieldOptions, cliName, helpText, number, taskFields } from "./options.js";
import type { Role } from "../pipelines/roles.js";
import { addModelOptions, engineInit, type ModelOptions } from "./models.js";
import { planOutputs, readImage, readMask, slug, writeOutputs } from "./files.js";
import { JobProgress } from "./progress.js";
import { UserError } from "./errors.js";
import { psnr } from "../runtime/compare.js";

type Options = ModelOptions & { output?: string; compare?: boolean } & Record<string, unknown>;

interface MixArg {
  text?: string;
  image?: string;
  weight?: number;
}

/** A request field's problem, in the command line's words (its flag). */
function userError(e: unknown): unknown {
  if (!(e instanceof RequestError)) return e;
  return new UserError(e.field && e.problem ? `${cliName(e.field)} ${e.problem}` : e.message, { cause: e });
}

async function runJob(task: Task, roles: readonly Role[], values: Partial<Record<FieldKey, unknown>>, o: Options): Promise<void> {
  const started = performance.now();
  const { outputFormat, outputQuality, ...given } = values as GenerateRequest & OutputRequest;
  // Before any model is fetched or loaded: a bad value fails at once. The seed is drawn here, once.
  let request: ResolvedRequest;
  let output: ResolvedOutput;
  try {
    request = resolveRequest({ ...given, task });
    output = resolveOutput({ outputFormat, outputQuality });
  } catch (e) {
    throw userError(e);
  }
  if (o.compare && request.precision !== "int8") throw new UserError("--compare compares --precision int8 with fp32: add --precision int8");
  const stem = slug(request.prompt ?? "") || (task === "text2img" ? "image" : task);
  const plan = await planOutputs({ output: o.output, format: outputFormat, quality: outputQuality }, output, stem, request.seed, request.numOutputs);
  const fp32Plan = o.compare ? { ...plan, paths: plan.paths.map((p) => p.replace(/(\.[^./]+)$/, "-fp32$1")) } : undefined;

  const resolving = performance.now();
  const { init, downloaded } = await engineInit(roles, o);
  console.log(`seed ${request.seed}`);
  const progress = new JobProgress(init.dirs);
  if (downloaded) progress.add("download", performance.now() - resolving);
  const engine = new Engine(init);
  // The first Ctrl-C stops the job at the next step; a second one quits at once.
  const abort = new AbortController();
  const onSigint = () => (abort.signal.aborted ? process.exit(130) : abort.abort());
  process.on("SIGINT", onSigint);
  try {
    const ctl = { onProgress: progress.onProgress, onLoad: progress.onLoad, onWarning: progress.onWarning, signal: abort.signal };
    const { images } = await engine.run(request, ctl);
    const summary = progress.summary(images.length, performance.now() - started);
    await writeOutputs(images, plan);
    for (const [i, path] of plan.paths.entries()) console.log(`wrote ${path} (${images[i].width}x${images[i].height})`);
    process.stderr.write(`${summary}\n`);
    if (fp32Plan) {
      const reference = await engine.run({ ...request, precision: "fp32" }, ctl);
      await writeOutputs(reference.images, fp32Plan);
      for (const [i, path] of fp32Plan.paths.entries()) {
        console.log(`wrote ${path} (fp32); int8 vs fp32: PSNR ${psnr(images[i].data, reference.images[i].data).toFixed(2)} dB`);
      }
    }
  } finally {
    progress.stop();
    process.off("SIGINT", onSigint);
    await engine.close();
  }
}

const MODEL_NOTE = `
Models are Hugging Face repo ids (fetched into the Hugging Face cache on first use, shared with Python;
HF_HOME / HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE=1 apply) or local diffusers folders.
On cpu each model is loaded, run and released in turn (peak memory: the largest one); --keep-loaded keeps them.`;

interface ImageCommand {
  task: Task;
  summary: string;
  roles: readonly Role[];
  examples: string[];
  note?: string;
}

/** The positional arguments of a task's command (image and prompt fields), in order. */
function argumentFields(task: Task): { key: FieldKey; argument: string }[] {
  return taskFields(task).flatMap((key) => {
    const cli: CliSpec = FIELDS[key].cli;
    return "argument" in cli ? [{ key, argument: cli.argument, position: cli.position }] : [];
  }).sort((a, b) => a.position - b.position);
}

/** Image and mask fields arrive as file paths. */
async function readFiles(values: Partial<Record<FieldKey, unknown>>): Promise<void> {
  for (const [key, v] of Object.entries(values) as [FieldKey, string][]) {
    const kind = FIELDS[key].kind;
    if (kind === "image") values[key] = await readImage(v);
    else if (kind === "mask") values[key] = await readMask(v);
  }
}

function addImageCommand(program: Command, c: ImageCommand, extra?: (cmd: Command) => () => Promise<Partial<Record<FieldKey, unknown>>>): void {
  const args = argumentFields(c.task);
  const cmd = program.command(FIELDS.task.cli.commands[c.task]).description(c.summary);
  for (const a of args) cmd.argument(a.argument, helpText(a.key));
  cmd.option("-o, --output <file>", "output file (default: <prompt>-<seed>.png); several outputs are numbered: out-1.png, out-2.png, ...");
  cmd.option("--compare", "with --precision int8: also run fp32 with the same seed, write its images as <name>-fp32, print the PSNR between them");
  const fields = addFieldOptions(cmd, c.task);
  const extraValues = extra?.(cmd);
  addModelOptions(cmd, c.roles);
  const examples = c.examples.map((l) => `  $ ${l}`).join("\n");
  cmd.addHelpText("after", `\nExamples:\n${examples}\n${c.note ? `\n${c.note}` : ""}${MODEL_NOTE}\n`);
  cmd.action(async (...params: unknown[]) => {
    const self = params.at(-1) as Command;
    const o = self.opts<Options>();
    const values = { ...fields(o), ...Object.fromEntries(args.map((a, i) => [a.key, self.args[i]])), ...(await extraValues?.()) };
    await readFiles(values);
    await runJob(c.task, c.roles, values, o);
  });
}

export function addImageCommands(program: Command): void {
  addImageCommand(program, {
    task: "text2img", summary: "generate images from a text prompt", roles: ["prior", "decoder"],
    examples: [
      'kandinsky generate "red cat, 4k photo"',
      'kandinsky generate "a castle in the clouds" --width 768 --height 512 --seed 42 -o castle.png',
      'kandinsky generate "portrait of a fox" --num-outputs 4 --steps 50 --scheduler dpmpp_2m --format webp --quality 90',
      'kandinsky generate "a lighthouse" --device cuda --keep-loaded',
      'kandinsky generate "a lighthouse" --prior ./kandinsky-2-1-prior --decoder ./kandinsky-2-1 --offline',
    ],
  });

  addImageCommand(program, {
    task: "img2img", summary: "re-draw an image following a prompt", roles: ["prior", "decoder"],
    examples: [
      'kandinsky img2img photo.jpg "a watercolor painting" --strength 0.5',
      'kandinsky img2img sketch.png "a detailed castle, fantasy art" --width 768 --height 512 -o castle.png',
    ],
  });

  addImageCommand(program, {
    task: "inpaint", summary: "re-draw the masked part of an image", roles: ["prior", "inpaint"],
    examples: [
      'kandinsky inpaint room.png "a red armchair" --mask chair-mask.png',
      'kandinsky inpaint cat.png "a hat" --mask hat-mask.png --invert-mask --inpaint ./kandinsky-2-1-inpaint',
    ],
  });

  addImageCommand(program, {
    task: "mix", summary: "generate an image from a weighted mix of texts and images", roles: ["prior", "decoder"],
    examples: [
      'kandinsky mix --text "a cat" --weight 0.5 --image starry-night.jpg --weight 0.5',
      'kandinsky mix --image a.png --image b.png -o blend.png',
      'kandinsky mix --text "a forest" --weight 0.7 --text "a city at night" --weight 0.3 --seed 7',
    ],
    note: "Items are mixed in the order given; weights go on every item or on none (then they share equally).",
  }, mixOptions);
}

/** --text / --image add an item and --weight weighs the item before it: one list keeps their order. */
function mixOptions(cmd: Command): () => Promise<Partial<Record<FieldKey, unknown>>> {
  const mix: MixArg[] = [];
  const [text, image, weight] = FIELDS.mix.cli.flags;
  cmd
    .option(text, "a text to mix in (repeatable)", (t: string) => (mix.push({ text: t }), mix))
    .option(image, "an image to mix in (repeatable)", (i: string) => (mix.push({ image: i }), mix))
    .option(weight, `the weight of the --text or --image before it, ${rangeText(FIELDS.mix.weights)} (default: equal weights)`, (value: string) => {
      const last = mix.at(-1);
      if (!last) throw new InvalidArgumentError("a --weight follows the --text or --image it weighs");
      if (last.weight !== undefined) throw new InvalidArgumentError("one --weight per --text or --image");
      last.weight = number(value);
      return mix;
    });
  return async () => ({ mix: await mixItems(mix) });
}

/** Reads the mix's images and gives unweighted items equal shares. */
async function mixItems(args: MixArg[]): Promise<MixItem[]> {
  if (args.length === 0) throw new UserError("mix needs at least one --text or --image");
  const weighted = args.filter((a) => a.weight !== undefined).length;
  if (weighted !== 0 && weighted !== args.length) throw new UserError("give every --text and --image a --weight, or none");
  const items: MixItem[] = [];
  for (const a of args) {
    const weight = a.weight ?? 1 / args.length;
    items.push(a.image !== undefined ? { image: await readImage(a.image, "mix image"), weight } : { text: a.text, weight });
  }
  return items;
}
