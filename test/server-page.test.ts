// The web page in a real headless Chromium (Debian's, driven by playwright-core): prompt in, progress, image out.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { launchBrowser } from "./browser.js";
import { serve } from "./server-helpers.js";

test("the page: submit a prompt, follow the progress bar, get the image; re-run reproduces it", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "kandinsky-page-"));
  const server = await serve({ dataDir });
  const browser = await launchBrowser();
  try {
    const page = browser.context.pages()[0] ?? (await browser.context.newPage());
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.locator("#health", { hasText: "ready" }).waitFor();
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
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
