// `kandinsky download`: fetch models into the Hugging Face cache ahead of use, and show where they are.
import type { Command } from "commander";
import { describeCache } from "../hub/resolve.js";
import { ROLE_MODELS, ROLES, type Role } from "../pipelines/roles.js";
import { fetchModel, resolveRoles } from "./models.js";

export function addDownloadCommand(program: Command): void {
  program
    .command("download [models...]")
    .description("fetch models into the Hugging Face cache (default: the prior, decoder and inpainting models)")
    .option("--list", "only show what the Hugging Face cache holds")
    .addHelpText("after", `
Examples:
  $ kandinsky download
  $ kandinsky download kandinsky-community/kandinsky-2-1-prior kandinsky-community/kandinsky-2-1
  $ HF_HOME=/data/hf kandinsky download
  $ kandinsky download --list

Default models: ${ROLES.map((r) => ROLE_MODELS[r].repo).join(", ")}.
An interrupted download resumes when run again. HF_ENDPOINT and HF_TOKEN (gated or private repos) apply.
`)
    .action(async (models: string[], o: { list?: boolean }) => {
      if (o.list) {
        console.log(await describeCache());
        return;
      }
      if (models.length === 0) {
        const repos = Object.fromEntries(ROLES.map((r) => [r, ROLE_MODELS[r].repo])) as Record<Role, string>;
        const { dirs } = await resolveRoles(ROLES, repos);
        for (const role of ROLES) console.log(`${ROLE_MODELS[role].repo}  ${dirs[role]}`);
        return;
      }
      for (const spec of models) console.log(`${spec}  ${(await fetchModel(spec)).dir}`);
    });
}
