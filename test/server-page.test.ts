// The web page in a real headless Chromium (Debian's, driven by playwright-core): prompt in, progress, image out.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { Page } from "playwright-core";
import { launchBrowser } from "./browser.js";
import { serve, type Server } from "./server-helpers.js";
import type { ServeOptions } from "../src/server/index.js";

/** Runs `fn` on the page of a fresh server (started with `opts`), checking that the page threw nothing. */
async function onPage(opts: Partial<ServeOptions>, fn: (page: Page, server: Server) => Promise<void>): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), "kandinsky-page-"));
  const server = await serve({ dataDir, ...opts });
  const browser = await launchBrowser();
  try {
    const page = browser.context.pages()[0] ?? (await browser.context.newPage());
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.locator("#health", { hasText: "ready" }).waitFor();
    await fn(page, server);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

test("the page: submit a prompt, follow the progress bar, get the image; re-run reproduces it", async () => {
  await onPage({}, async (page) => {
    await page.fill("#prompt", "a red cat");
    await page.click("details summary");
    for (const [id, v] of [["width", 128], ["height", 128], ["num_inference_steps", 12], ["num_steps_prior", 2], ["seed", 5]] as const) {
      await page.fill(`#${id}`, String(v));
    }
    await page.click("#generate");

    const img = page.locator(".card img").first();
    await img.waitFor();
    // The bar and its label are only ever set by progress events, so this is what the stream drew last.
    assert.equal(await page.locator("#stage-label").textContent(), "decoder 12/12");
    assert.equal(await page.locator("#progress").evaluate((p: { value: number; max: number }) => [p.value, p.max].join("/")), "12/12");
    assert.match(await page.locator("#message").textContent() ?? "", /seed 5/);
    assert.equal(await page.locator("#preview").evaluate((c: { hidden: boolean; width: number }) => `${c.hidden} ${c.width}`), "false 16", "the last step's latent preview");
    assert.equal(await img.evaluate((i: { naturalWidth: number; naturalHeight: number }) => `${i.naturalWidth}x${i.naturalHeight}`), "128x128");
    const src = await img.getAttribute("src");
    assert.match(src ?? "", /^data:image\/png;base64,/);
    assert.match(await page.locator(".card .params").first().textContent() ?? "", /128×128 · 12 steps .* seed 5/);

    await page.click(".card .rerun");
    await page.locator(".card").nth(1).waitFor();
    assert.equal(await page.locator(".card img").first().getAttribute("src"), src, "the same seed and input give the same image");
  });
});

test("the form takes its limits, defaults and choices from the server's schema, and shows each task the controls it reads", async () => {
  await onPage({ maxSize: 768, maxOutputs: 2 }, async (page, server) => {
    await page.locator("#scheduler option").first().waitFor({ state: "attached" });
    const props = ((await (await fetch(`${server.url}/openapi.json`)).json()) as any).components.schemas.Input.properties as Record<string, any>;
    assert.equal(props.width.maximum, 768, "--max-size is in the schema");
    assert.equal(props.num_outputs.maximum, 2, "--max-outputs is in the schema");

    type Control = { tag: string; type: string; min: string; max: string; step: string; value: string; checked: boolean; options: string[] };
    const control = (id: string) => page.locator(`#${id}`).evaluate((el: any): Control => ({
      tag: el.tagName, type: el.type, min: el.min, max: el.max, step: el.step, value: el.value, checked: el.checked,
      options: el.tagName === "SELECT" ? [...el.options].map((o: { value: string }) => o.value) : [],
    }));
    for (const [name, p] of Object.entries(props)) {
      const c = await control(p["x-form"] ?? name);
      if (c.tag === "SELECT") assert.deepEqual(c.options, p.enum, `#${name} choices`);
      if (p.type === "integer" || p.type === "number") {
        assert.equal(c.max, p.maximum === undefined ? "" : String(p.maximum), `#${name} max`);
        if (p.minimum !== undefined) assert.equal(c.min, String(p.minimum), `#${name} min`);
        if (p["x-step"] !== undefined) assert.equal(c.step, String(p["x-step"]), `#${name} step`);
      }
      if (p.default !== undefined && c.type !== "file") assert.equal(c.type === "checkbox" ? c.checked : c.value, c.type === "checkbox" ? p.default : String(p.default), `#${name} default`);
    }
    assert.equal((await control("strength")).min, "0.05", "an exclusive minimum starts one step above it");

    // Each task shows the controls of the fields it reads (x-tasks), and hides the others.
    for (const task of ["text2img", "img2img", "inpaint", "mix"]) {
      await page.check(`input[name=task][value=${task}]`);
      for (const [name, p] of Object.entries(props)) {
        if (!p["x-tasks"]) continue;
        const hidden = await page.locator(`#${p["x-form"] ?? name}`).evaluate((el: any) => (el.closest("label") ?? el).hidden);
        assert.equal(hidden, !p["x-tasks"].includes(task), `${task}: #${name} ${hidden ? "hidden" : "shown"}`);
      }
    }

    // The server validates (and says so in the page) what the form lets through.
    await page.check("input[name=task][value=text2img]");
    await page.fill("#prompt", "a red cat");
    await page.click("details summary");
    await page.fill("#width", "1000");
    await page.click("#generate");
    await page.locator("#message", { hasText: "input.width must be <= 768" }).waitFor();
  });
});
