// The image commands: generate (text to image), img2img, inpaint and mix. Each parses its inputs into a
// GenerateRequest; all then run the same job: validate, resolve the models, run in the engine's worker with
// progress, write the images, report.
import { InvalidArgumentError, type Command } from "commander";
import { Engine } from "../engine/engine.js";
import { DEFAULTS, validate, type GenerateRequest, type MixItem, type Task } from "../pipelines/kandinsky.js";
import { randomSeed } from "../noise/noise-source.js";
import { addGenerationOptions, number, type GenerationOptions } from "./options.js";
import type { Role } from "../pipelines/roles.js";
import { addModelOptions, engineInit, type ModelOptions } from "./models.js";
import { planOutputs, readImage, readMask, slug, writeOutputs } from "./files.js";
import { JobProgress } from "./progress.js";
import { UserError } from "./errors.js";

type Options = GenerationOptions & ModelOptions & {
  negativePrompt?: string;
  strength?: number;
  mask?: string;
  invertMask?: boolean;
};

interface MixArg {
  text?: string;
  image?: string;
  weight?: number;
}

async function runJob(task: Task, roles: readonly Role[], input: GenerateRequest, stem: string, o: Options): Promise<void> {
  const started = performance.now();
  const request: GenerateRequest = {
    ...input, task, width: o.width, height: o.height, steps: o.steps, priorSteps: o.priorSteps,
    guidanceScale: o.guidanceScale, priorGuidanceScale: o.priorGuidanceScale, numOutputs: o.numOutputs,
    scheduler: o.scheduler, seed: o.seed ?? randomSeed(),
  };
  // Before any model is fetched or loaded: a bad value fails at once.
  validate({ ...DEFAULTS, ...request }, task);
  const plan = await planOutputs(o, stem, request.seed!, o.numOutputs);

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
    const { images } = await engine.run(request, {
      onProgress: progress.onProgress, onLoad: progress.onLoad, onWarning: progress.onWarning, signal: abort.signal,
    });
    const summary = progress.summary(images.length, performance.now() - started);
    await writeOutputs(images, plan);
    for (const [i, path] of plan.paths.entries()) console.log(`wrote ${path} (${images[i].width}x${images[i].height})`);
    process.stderr.write(`${summary}\n`);
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
  /** Name and arguments, e.g. "img2img <image> <prompt>". */
  usage: string;
  summary: string;
  task: Task;
  roles: readonly Role[];
  /** The command's own options, listed first. */
  options?: (cmd: Command) => void;
  examples: string[];
  note?: string;
  /** The request's task-specific part and the default output name's stem. */
  build: (args: string[], o: Options) => Promise<{ request: GenerateRequest; stem: string }>;
}

function addImageCommand(program: Command, c: ImageCommand): void {
  const cmd = program.command(c.usage).description(c.summary);
  c.options?.(cmd);
  addGenerationOptions(cmd);
  addModelOptions(cmd, c.roles);
  const examples = c.examples.map((l) => `  $ ${l}`).join("\n");
  cmd.addHelpText("after", `\nExamples:\n${examples}\n${c.note ? `\n${c.note}` : ""}${MODEL_NOTE}\n`);
  cmd.action(async (...params: unknown[]) => {
    const self = params.at(-1) as Command;
    const o = self.opts<Options>();
    const { request, stem } = await c.build(self.args, o);
    await runJob(c.task, c.roles, request, stem, o);
  });
}

const negativePrompt = (cmd: Command) => cmd.option("--negative-prompt <text>", "what the image should not show");

export function addImageCommands(program: Command): void {
  addImageCommand(program, {
    usage: "generate <prompt>", summary: "generate images from a text prompt", task: "text2img", roles: ["prior", "decoder"],
    options: negativePrompt,
    examples: [
      'kandinsky generate "red cat, 4k photo"',
      'kandinsky generate "a castle in the clouds" --width 768 --height 512 --seed 42 -o castle.png',
      'kandinsky generate "portrait of a fox" --num-outputs 4 --steps 50 --scheduler dpmpp_2m --format webp --quality 90',
      'kandinsky generate "a lighthouse" --device cuda --keep-loaded',
      'kandinsky generate "a lighthouse" --prior ./kandinsky-2-1-prior --decoder ./kandinsky-2-1 --offline',
    ],
    build: async ([prompt], o) => ({ request: { prompt, negativePrompt: o.negativePrompt }, stem: slug(prompt) || "image" }),
  });

  addImageCommand(program, {
    usage: "img2img <image> <prompt>", summary: "re-draw an image following a prompt", task: "img2img", roles: ["prior", "decoder"],
    options: (cmd) => {
      cmd.option("--strength <x>", "how much of the image is re-drawn, from 0 (nothing) to 1 (all)", number, DEFAULTS.strength);
      negativePrompt(cmd);
    },
    examples: [
      'kandinsky img2img photo.jpg "a watercolor painting" --strength 0.5',
      'kandinsky img2img sketch.png "a detailed castle, fantasy art" --width 768 --height 512 -o castle.png',
    ],
    note: "The input image is resized to --width x --height.",
    build: async ([image, prompt], o) => ({
      request: { prompt, negativePrompt: o.negativePrompt, image: await readImage(image), strength: o.strength },
      stem: slug(prompt) || "img2img",
    }),
  });

  addImageCommand(program, {
    usage: "inpaint <image> <prompt>", summary: "re-draw the masked part of an image", task: "inpaint", roles: ["prior", "inpaint"],
    options: (cmd) => {
      cmd.requiredOption("--mask <file>", "mask image: white = repaint, black = keep")
        .option("--invert-mask", "the original implementation's masks: black = repaint");
      negativePrompt(cmd);
    },
    examples: [
      'kandinsky inpaint room.png "a red armchair" --mask chair-mask.png',
      'kandinsky inpaint cat.png "a hat" --mask hat-mask.png --invert-mask --inpaint ./kandinsky-2-1-inpaint',
    ],
    note: "Image and mask are resized to --width x --height.",
    build: async ([image, prompt], o) => ({
      request: { prompt, negativePrompt: o.negativePrompt, image: await readImage(image), mask: await readMask(o.mask!), invertMask: o.invertMask },
      stem: slug(prompt) || "inpaint",
    }),
  });

  // --text / --image add an item and --weight weighs the item before it: one shared list keeps their order.
  const mix: MixArg[] = [];
  addImageCommand(program, {
    usage: "mix", summary: "generate an image from a weighted mix of texts and images", task: "mix", roles: ["prior", "decoder"],
    options: (cmd) => cmd
      .option("--text <text>", "a text to mix in (repeatable)", (text: string) => (mix.push({ text }), mix))
      .option("--image <file>", "an image to mix in (repeatable)", (image: string) => (mix.push({ image }), mix))
      .option("--weight <x>", "the weight of the --text or --image before it (default: equal weights)", (value: string) => {
        const last = mix.at(-1);
        if (!last) throw new InvalidArgumentError("a --weight follows the --text or --image it weighs");
        if (last.weight !== undefined) throw new InvalidArgumentError("one --weight per --text or --image");
        last.weight = number(value);
        return mix;
      }),
    examples: [
      'kandinsky mix --text "a cat" --weight 0.5 --image starry-night.jpg --weight 0.5',
      'kandinsky mix --image a.png --image b.png -o blend.png',
      'kandinsky mix --text "a forest" --weight 0.7 --text "a city at night" --weight 0.3 --seed 7',
    ],
    note: "Items are mixed in the order given; weights go on every item or on none (then they share equally).",
    build: async () => ({ request: { mix: await mixItems(mix) }, stem: "mix" }),
  });
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
