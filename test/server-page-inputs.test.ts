// The web page's inputs in a real headless Chromium: the inpainting mask painted on the image, the mix rows,
// and the access-token prompt of a server that wants one. What the page sent is read back from the prediction.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Page } from "playwright-core";
import sharp from "sharp";
import { launchBrowser } from "./browser.js";
import { client, serve, type Server } from "./server-helpers.js";

const TOKEN = "s3cret";
const OPTIONS = { width: 128, height: 128, num_inference_steps: 2, num_steps_prior: 2, seed: 9 };

let browser: Awaited<ReturnType<typeof launchBrowser>>;
let work: string;
let png: Buffer;
let pngUrl: string;
before(async () => {
  browser = await launchBrowser();
  work = await mkdtemp(join(tmpdir(), "kandinsky-page-inputs-"));
  png = await sharp({ create: { width: 96, height: 80, channels: 3, background: "#3060a0" } }).png().toBuffer();
  pngUrl = `data:image/png;base64,${png.toString("base64")}`;
});
after(async () => {
  await browser.close();
  await rm(work, { recursive: true, force: true });
});

/** A server of its own (its own origin, so its own localStorage), its page open and ready, `fn` run on it. */
async function withPage(opts: { token?: string }, fn: (page: Page, server: Server) => Promise<void>): Promise<void> {
  const server = await serve({ dataDir: await mkdtemp(join(work, "data-")), ...opts });
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  try {
    await page.goto(server.url);
    await page.locator("#health", { hasText: "ready" }).waitFor();
    await page.click("details summary");
    for (const [id, v] of Object.entries(OPTIONS)) await page.fill(`#${id}`, String(v));
    await fn(page, server);
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
    await server.close();
  }
}

/** Submits the form and waits for the new card in the gallery; returns its prediction as the server has it. */
async function generate(page: Page, server: Server, token?: string): Promise<any> {
  const cards = await page.locator(".card").count();
  await page.click("#generate");
  await page.locator(".card").nth(cards).waitFor();
  const id = await page.evaluate<string>("JSON.parse(localStorage.getItem('kandinsky-gallery'))[0]");
  const p = (await client(server.url, token)("GET", `/predictions/${id}`)).body;
  assert.equal(p.status, "succeeded", p.error);
  return p;
}

const setRange = (page: Page, selector: string, value: number) =>
  page.locator(selector).evaluate((el: { value: string; dispatchEvent(e: Event): void }, v) => {
    el.value = String(v);
    el.dispatchEvent(new Event("input", { bubbles: true }));
  }, value);

/** A stroke on the mask canvas between two points in its own pixels. */
async function stroke(page: Page, from: [number, number], to: [number, number]): Promise<void> {
  const canvas = page.locator("#mask-canvas");
  const box = (await canvas.boundingBox())!;
  const width = await canvas.evaluate((c: { width: number }) => c.width);
  const at = ([x, y]: [number, number]) => [box.x + (x * box.width) / width, box.y + (y * box.width) / width] as const;
  await page.mouse.move(...at(from));
  await page.mouse.down();
  await page.mouse.move(...at(to), { steps: 8 });
  await page.mouse.up();
}

test("inpaint: the mask painted over the image is sent white where painted, black elsewhere; clear-mask wipes it", async () => {
  await withPage({}, async (page, server) => {
    await page.check("input[name=task][value=inpaint]");
    await page.setInputFiles("#image", { name: "in.png", mimeType: "image/png", buffer: png });
    await page.locator("#mask-canvas").waitFor();
    await page.fill("#prompt", "a hat");
    await setRange(page, "#brush", 8);
    await stroke(page, [20, 10], [60, 10]);
    await page.click("#clear-mask");
    await stroke(page, [20, 40], [60, 40]);
    const p = await generate(page, server);
    assert.equal(p.input.image, pngUrl, "the image as chosen");
    const { data, info } = await sharp(Buffer.from(p.input.mask.split(",")[1], "base64")).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [96, 80], "the mask has the image's size");
    const at = (x: number, y: number) => data[(y * info.width + x) * info.channels];
    assert.deepEqual([at(21, 40), at(40, 40), at(59, 40), at(40, 37), at(40, 43)], [255, 255, 255, 255, 255], "on the stroke");
    assert.deepEqual([at(40, 10), at(40, 50), at(80, 40), at(5, 40)], [0, 0, 0, 0], "off it, and where the cleared stroke was");
    assert.ok(data.every((v, i) => i % info.channels === 3 || v === 0 || v === 255), "only black and white");
  });
});

test("mix: rows of texts and images with their weights, sent texts first; empty rows are left out; Use settings restores them", async () => {
  await withPage({}, async (page, server) => {
    await page.check("input[name=task][value=mix]");
    await page.click("#generate");
    await page.locator("#message.error", { hasText: "add at least one text or image to mix" }).waitFor();

    await page.click("#add-image");
    await page.click("#add-text");
    await page.click("#add-text");
    await page.click("#add-text");
    const rows = page.locator(".mix-item");
    await rows.nth(0).locator("input[type=file]").setInputFiles({ name: "m.png", mimeType: "image/png", buffer: png });
    await page.waitForFunction("Boolean(document.querySelector('.mix-item').dataset.url)");
    await setRange(page, ".mix-item:nth-child(1) input[type=range]", 0.7);
    await rows.nth(1).locator("input[type=text]").fill("a cat");
    await setRange(page, ".mix-item:nth-child(2) input[type=range]", 0.3);
    await rows.nth(2).locator("input[type=text]").fill("a dog");
    await rows.nth(2).locator("button").click(); // removed
    assert.equal(await rows.count(), 3, "the last text row stays empty");
    assert.equal(await rows.nth(0).locator("output").textContent(), "0.7", "the weight is shown");

    const p = await generate(page, server);
    assert.deepEqual([p.input.task, p.input.prompt, p.input.mix_texts, p.input.mix_images, p.input.mix_weights],
      ["mix", undefined, ["a cat"], [pngUrl], [0.3, 0.7]]);
    assert.equal(await page.locator(".card .prompt").first().textContent(), "mix: a cat");

    await page.click(".card .use");
    await page.waitForFunction("document.querySelectorAll('.mix-item').length === 2");
    type Row = { dataset: Record<string, string>; querySelector(s: string): { value: string } | null };
    const restored = await rows.evaluateAll((els: Row[]) => els.map((r) => [
      r.dataset.kind, r.querySelector("input[type=text]")?.value ?? r.dataset.url, r.querySelector("input[type=range]")!.value,
    ]));
    assert.deepEqual(restored, [["text", "a cat", "0.3"], ["image", pngUrl, "0.7"]]);
  });
});

test("a server with a token: the page asks for it, asks again when it is wrong, keeps it; dismissed, the 401 is shown", async () => {
  await withPage({ token: TOKEN }, async (page, server) => {
    const asked: string[] = [];
    let answers: (string | null)[] = ["wrong", TOKEN];
    page.on("dialog", (d) => {
      asked.push(`${d.type()}: ${d.message()}`);
      const answer = answers.shift();
      void (answer ? d.accept(answer) : d.dismiss());
    });
    await page.fill("#prompt", "a red cat");
    const p = await generate(page, server, TOKEN);
    assert.equal(p.input.prompt, "a red cat");
    assert.deepEqual(asked, ["prompt: This server needs an access token:", "prompt: This server needs an access token:"]);
    assert.equal(await page.evaluate("localStorage.getItem('kandinsky-token')"), TOKEN);

    // Kept: the gallery loads with it after a reload, without asking.
    await page.reload();
    await page.locator(".card img").first().waitFor();
    assert.equal(asked.length, 2);

    await page.evaluate("localStorage.removeItem('kandinsky-token')");
    answers = [null];
    await page.click("#generate");
    await page.locator("#message.error", { hasText: "missing or wrong bearer token" }).waitFor();
    assert.equal(asked.length, 3);
  });
});
