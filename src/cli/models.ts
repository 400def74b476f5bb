// Model and device options, shared by every command that runs or fetches models: which pipelines (repo ids or
// local folders), where they are resolved (Hugging Face cache, downloaded when missing) and on which device.
import { Option, type Command } from "commander";
import { resolveModel } from "../hub/resolve.js";
import { missingPipelineFiles } from "../hub/pipeline-files.js";
import { ProgressBar } from "../hub/progress.js";
import { PROVIDERS, type Provider } from "../runtime/session.js";
import type { WorkerInit } from "../engine/protocol.js";
import { positiveInteger } from "./options.js";
import { checkRole, ROLE_MODELS, ROLES, type Role } from "../pipelines/roles.js";
import { say, UserError } from "./errors.js";

export interface ModelOptions {
  prior: string;
  decoder: string;
  inpaint: string;
  offline?: boolean;
  device: Provider;
  threads?: number;
  keepLoaded?: boolean;
}

/** Adds --<role> for each role, --offline and the device options. */
export function addModelOptions(cmd: Command, roles: readonly Role[]): Command {
  for (const role of roles) {
    cmd.option(`--${role} <repo-id|dir>`, `${ROLE_MODELS[role].name} model: Hugging Face repo id or local folder`, ROLE_MODELS[role].repo);
  }
  return cmd
    .option("--offline", "use only the Hugging Face cache (as HF_HUB_OFFLINE=1)")
    .addOption(new Option("--device <device>", "where to compute; falls back to cpu, saying why").choices(PROVIDERS).default("cpu"))
    .option("--threads <n>", "CPU threads (default: all cores)", positiveInteger)
    .option("--keep-loaded", "keep every model loaded instead of loading, running and releasing each in turn");
}

/**
 * The local folder of a model (repo id or folder), downloaded into the cache with a progress bar when missing;
 * `check` runs before any weight file is fetched.
 */
export async function fetchModel(spec: string, offline?: boolean, check?: (dir: string) => void): Promise<{ dir: string; downloaded: boolean }> {
  let bar: ProgressBar | undefined;
  try {
    const dir = await resolveModel(spec, {
      offline,
      check,
      onProgress: (p) => {
        bar ??= new ProgressBar({ label: `download ${spec}`, total: p.total, unit: "bytes" });
        bar.update(p.done, { total: p.total });
      },
    });
    return { dir, downloaded: bar !== undefined };
  } catch (e) {
    throw new UserError((e as Error).message);
  } finally {
    bar?.finish();
  }
}

/**
 * One role's model, checked to be the right kind of folder (from its metadata, before any weights are fetched) with
 * all its files, so a mix-up fails in one line.
 */
async function resolveRole(role: Role, spec: string, offline?: boolean): Promise<{ dir: string; downloaded: boolean }> {
  const model = await fetchModel(spec, offline, (dir) => checkRole(role, dir, `--${role} ${spec}`));
  const missing = await missingPipelineFiles(model.dir);
  if (missing.length) throw new UserError(`--${role} ${spec} is incomplete: ${missing.join(", ")}`);
  return model;
}

/** Resolves the roles a command needs, one after the other (downloads show one bar at a time). */
export async function resolveRoles(roles: readonly Role[], o: Pick<ModelOptions, Role | "offline">): Promise<{ dirs: Partial<Record<Role, string>>; downloaded: boolean }> {
  const dirs: Partial<Record<Role, string>> = {};
  let downloaded = false;
  for (const role of roles) {
    const r = await resolveRole(role, o[role], o.offline);
    dirs[role] = r.dir;
    downloaded ||= r.downloaded;
  }
  return { dirs, downloaded };
}

/**
 * The inpaint command needs no text-to-image decoder, but one at hand (a local folder or a complete cached copy)
 * lends its DDPM config to `--scheduler ddpm` when the inpainting repo has none. Nothing is downloaded for it.
 */
async function decoderAtHand(roles: readonly Role[], o: ModelOptions): Promise<string | undefined> {
  if (!roles.includes("inpaint")) return undefined;
  // The command has no --decoder: the default repo, when cached.
  return resolveModel(o.decoder ?? ROLE_MODELS.decoder.repo, { offline: true, check: (dir) => checkRole("decoder", dir) }).catch(() => undefined);
}

/**
 * What an inference worker needs: the models of `roles` and the requested provider. The worker checks that the
 * provider starts (this process never loads ONNX Runtime) and reports a fallback to cpu as a warning.
 */
export async function engineInit(roles: readonly Role[], o: ModelOptions): Promise<{ init: WorkerInit; downloaded: boolean }> {
  const { dirs, downloaded } = await resolveRoles(roles, o);
  return {
    init: {
      dirs: { prior: dirs.prior!, decoder: dirs.decoder ?? (await decoderAtHand(roles, o)), inpaint: dirs.inpaint },
      options: { provider: o.device, threads: o.threads, keepLoaded: o.keepLoaded },
    },
    downloaded,
  };
}

/**
 * The models of a server or worker, all roles, resolved in the background: the server reports the outcome to
 * its clients, and the console hears it too.
 */
export function servingModels(o: ModelOptions): () => Promise<WorkerInit> {
  return () => engineInit(ROLES, o).then(
    ({ init }) => (say("models ready"), init),
    (e: Error) => {
      say(`setup failed: ${e.message}`);
      throw e;
    },
  );
}
