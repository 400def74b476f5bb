// The page: builds an input from the form, creates the prediction with `Prefer: respond-async` and follows
// it on GET /predictions/{id}/events; the gallery remembers prediction ids in localStorage. The form's limits,
// defaults, choices and per-task controls are the server's input schema (/openapi.json, derived from the
// request-field table, this server's limits applied).
const $ = (id) => document.getElementById(id);
const form = $("form");
const GALLERY_KEY = "kandinsky-gallery";
const TOKEN_KEY = "kandinsky-token";
let imageDataUrl = null;
let runningId = null;

// ---- API (a bearer token is asked for once if the server wants one)

async function api(path, init = {}) {
  for (;;) {
    const token = localStorage.getItem(TOKEN_KEY);
    const headers = { ...init.headers, ...(token ? { authorization: `Bearer ${token}` } : {}) };
    const res = await fetch(path, { ...init, headers });
    if (res.status !== 401) return res;
    const entered = prompt("This server needs an access token:");
    if (!entered) return res;
    localStorage.setItem(TOKEN_KEY, entered);
  }
}

async function errorText(res) {
  try {
    const body = await res.json();
    // {"detail": [...]} for invalid input, {"detail": "..."} or coglet's {"error": "...", "status": "failed"} otherwise.
    if (Array.isArray(body.detail)) return body.detail.map((d) => d.msg).join("; ");
    return String(body.error ?? body.detail);
  } catch {
    return `HTTP ${res.status}`;
  }
}

function setMessage(text, isError = false) {
  $("message").textContent = text;
  $("message").classList.toggle("error", isError);
}

// ---- task switching

const currentTask = () => form.elements.task.value;

function showTask() {
  for (const el of document.querySelectorAll("[data-tasks]")) el.hidden = !el.dataset.tasks.split(" ").includes(currentTask());
}

// ---- the input schema: each property's control is the element of its name (or x-form)

/** name -> { schema, control } for the schema's properties the form has a control for. */
const fields = new Map();

const isValueControl = (el) => ["INPUT", "SELECT", "TEXTAREA"].includes(el.tagName) && el.type !== "file";

/** The elements shown for a field's tasks: those marked data-field="<name>", and its control's label (or the control). */
const partsOf = (name, control) => [...document.querySelectorAll(`[data-field~="${name}"]`), control.closest("label") ?? control];

function setValue(el, value) {
  if (el.type === "checkbox") el.checked = Boolean(value);
  else el.value = value ?? "";
}

async function configureForm() {
  const res = await fetch("/openapi.json");
  if (!res.ok) throw new Error(`cannot read the input schema (HTTP ${res.status})`);
  const { properties } = (await res.json()).components.schemas.Input;
  for (const [name, p] of Object.entries(properties)) {
    const control = $(p["x-form"] ?? name);
    if (!control) continue;
    fields.set(name, { schema: p, control });
    control.title = p.description ?? "";
    if (p["x-tasks"]) for (const el of partsOf(name, control)) el.dataset.tasks = p["x-tasks"].join(" ");
    if (!isValueControl(control)) continue;
    if (control.tagName === "SELECT") control.replaceChildren(...p.enum.map((v) => new Option(v, v)));
    if (p.type === "number" || p.type === "integer") {
      const step = p["x-step"] ?? (p.type === "integer" ? 1 : "any");
      control.step = step;
      const min = p.minimum ?? (p.exclusiveMinimum === undefined ? undefined : p.exclusiveMinimum + (Number(step) || 0));
      if (min !== undefined) control.min = min;
      if (p.maximum !== undefined) control.max = p.maximum;
    }
    if (p.default !== undefined) setValue(control, p.default);
  }
  $("strength-value").textContent = $("strength").value;
}

form.addEventListener("change", (e) => {
  if (e.target.name === "task") showTask();
});
$("strength").addEventListener("input", () => ($("strength-value").textContent = $("strength").value));

// ---- source image and the inpainting mask, painted on a canvas over it

const imageCanvas = $("image-canvas");
const maskCanvas = $("mask-canvas");

const readFile = (file) => new Promise((resolve, reject) => {
  const r = new FileReader();
  r.onload = () => resolve(r.result);
  r.onerror = () => reject(r.error);
  r.readAsDataURL(file);
});

const loadImage = (src) => new Promise((resolve, reject) => {
  const im = new Image();
  im.onload = () => resolve(im);
  im.onerror = () => reject(new Error("this file is not an image the browser can show"));
  im.src = src;
});

async function setImage(dataUrl) {
  const im = await loadImage(dataUrl);
  imageDataUrl = dataUrl;
  const scale = Math.min(1, 768 / Math.max(im.width, im.height));
  for (const c of [imageCanvas, maskCanvas]) {
    c.width = Math.max(1, Math.round(im.width * scale));
    c.height = Math.max(1, Math.round(im.height * scale));
  }
  imageCanvas.getContext("2d").drawImage(im, 0, 0, imageCanvas.width, imageCanvas.height);
  clearMask();
  $("image-stage").hidden = false;
}

$("image").addEventListener("change", async (e) => {
  const file = e.target.files[0];
  if (!file) return;
  try {
    await setImage(await readFile(file));
  } catch (err) {
    setMessage(err.message, true);
  }
});

function clearMask() {
  maskCanvas.getContext("2d").clearRect(0, 0, maskCanvas.width, maskCanvas.height);
}
$("clear-mask").addEventListener("click", clearMask);

let lastPoint = null;
function paintTo(e) {
  const r = maskCanvas.getBoundingClientRect();
  const k = maskCanvas.width / r.width;
  const p = { x: (e.clientX - r.left) * k, y: (e.clientY - r.top) * k };
  const ctx = maskCanvas.getContext("2d");
  ctx.strokeStyle = "#ff2020";
  ctx.lineCap = "round";
  ctx.lineWidth = Number($("brush").value) * k;
  ctx.beginPath();
  ctx.moveTo((lastPoint ?? p).x, (lastPoint ?? p).y);
  ctx.lineTo(p.x, p.y);
  ctx.stroke();
  lastPoint = p;
}
maskCanvas.addEventListener("pointerdown", (e) => {
  maskCanvas.setPointerCapture(e.pointerId);
  lastPoint = null;
  paintTo(e);
});
maskCanvas.addEventListener("pointermove", (e) => {
  if (maskCanvas.hasPointerCapture(e.pointerId)) paintTo(e);
});
maskCanvas.addEventListener("pointerup", () => (lastPoint = null));

/** The mask as the API wants it: white where painted (repaint), black elsewhere. */
function maskDataUrl() {
  const ctx = maskCanvas.getContext("2d");
  const px = ctx.getImageData(0, 0, maskCanvas.width, maskCanvas.height);
  for (let i = 0; i < px.data.length; i += 4) {
    const v = px.data[i + 3] > 0 ? 255 : 0;
    px.data.set([v, v, v, 255], i);
  }
  const out = document.createElement("canvas");
  out.width = maskCanvas.width;
  out.height = maskCanvas.height;
  out.getContext("2d").putImageData(px, 0, 0);
  return out.toDataURL("image/png");
}

// ---- mixing: texts and images, each with a weight

const MIX_WEIGHT_STEP = 0.05;

function addMixItem(kind, value = "", weight = 0.5) {
  const row = document.createElement("div");
  row.className = "mix-item";
  row.dataset.kind = kind;
  if (kind === "text") {
    const text = Object.assign(document.createElement("input"), { type: "text", value, placeholder: "a text to blend" });
    row.append(text);
  } else {
    const file = Object.assign(document.createElement("input"), { type: "file", accept: "image/*" });
    const thumb = document.createElement("img");
    const set = (url) => {
      row.dataset.url = url;
      thumb.src = url;
    };
    if (value) set(value);
    file.addEventListener("change", async () => file.files[0] && set(await readFile(file.files[0])));
    row.append(file, thumb);
  }
  const { minimum, maximum } = fields.get("mix_weights").schema.items;
  const slider = Object.assign(document.createElement("input"), { type: "range", min: minimum, max: maximum, step: MIX_WEIGHT_STEP, value: weight, title: "weight" });
  const shown = Object.assign(document.createElement("output"), { value: weight });
  slider.addEventListener("input", () => (shown.value = slider.value));
  const remove = Object.assign(document.createElement("button"), { type: "button", textContent: "✕", title: "remove" });
  remove.addEventListener("click", () => row.remove());
  row.append(slider, shown, remove);
  $("mix-items").append(row);
}
$("add-text").addEventListener("click", () => addMixItem("text"));
$("add-image").addEventListener("click", () => addMixItem("image"));

function readMix(input) {
  const rows = [...document.querySelectorAll(".mix-item")];
  const texts = rows.filter((r) => r.dataset.kind === "text" && r.querySelector("input[type=text]").value.trim());
  const images = rows.filter((r) => r.dataset.kind === "image" && r.dataset.url);
  if (!texts.length && !images.length) throw new Error("add at least one text or image to mix");
  const weight = (r) => Number(r.querySelector("input[type=range]").value);
  if (texts.length) input.mix_texts = texts.map((r) => r.querySelector("input[type=text]").value.trim());
  if (images.length) input.mix_images = images.map((r) => r.dataset.url);
  input.mix_weights = [...texts, ...images].map(weight);
}

// ---- form <-> input

/** The fields the current task reads, with a control holding their value. */
function valueFields() {
  const task = currentTask();
  return [...fields].filter(([, f]) => isValueControl(f.control) && (!f.schema["x-tasks"] || f.schema["x-tasks"].includes(task)));
}

function readInput() {
  const task = currentTask();
  const input = { task };
  for (const [name, { schema, control }] of valueFields()) {
    if (control.type === "checkbox") input[name] = control.checked;
    else if (schema.type === "number" || schema.type === "integer") {
      if (control.value !== "") input[name] = Number(control.value);
    } else if (control.value.trim() !== "") input[name] = control.value.trim();
  }
  if (task === "img2img" || task === "inpaint") {
    if (!imageDataUrl) throw new Error("choose an image first");
    input.image = imageDataUrl;
  }
  if (task === "inpaint") input.mask = maskDataUrl();
  if (task === "mix") readMix(input);
  return input;
}

async function fillForm(input, seed) {
  form.elements.task.value = input.task ?? "text2img";
  showTask();
  for (const [name, { schema, control }] of fields) {
    if (isValueControl(control)) setValue(control, input[name] ?? schema.default);
  }
  $("seed").value = seed ?? "";
  $("strength-value").textContent = $("strength").value;
  if (input.image) await setImage(input.image);
  $("mix-items").replaceChildren();
  const texts = input.mix_texts ?? [];
  const weights = input.mix_weights ?? [];
  texts.forEach((t, i) => addMixItem("text", t, weights[i] ?? 0.5));
  (input.mix_images ?? []).forEach((u, i) => addMixItem("image", u, weights[texts.length + i] ?? 0.5));
}

// ---- running a prediction

async function run(input) {
  setMessage("");
  const res = await api("/predictions", {
    method: "POST",
    headers: { "content-type": "application/json", prefer: "respond-async" },
    body: JSON.stringify({ input }),
  });
  if (!res.ok) return setMessage(await errorText(res), true);
  const prediction = await res.json();
  runningId = prediction.id;
  $("generate").disabled = true;
  $("cancel").disabled = false;
  $("run").hidden = false;
  $("preview").hidden = true;
  $("progress").value = 0;
  $("stage-label").textContent = "queued";
  try {
    await follow(prediction.id);
  } catch (err) {
    setMessage(`lost the connection: ${err.message}`, true);
  } finally {
    runningId = null;
    $("generate").disabled = false;
    $("cancel").disabled = true;
  }
}

/** Reads the server-sent event stream (fetch rather than EventSource, so the token header can go along). */
async function follow(id) {
  const res = await api(`/predictions/${id}/events`);
  if (!res.ok) throw new Error(await errorText(res));
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) onEvent(event, JSON.parse(data));
    }
  }
}

function onEvent(event, data) {
  if (event === "start") $("stage-label").textContent = "starting";
  else if (event === "progress") {
    $("progress").max = data.total;
    $("progress").value = data.step;
    $("stage-label").textContent = `${data.stage} ${data.step}/${data.total}`;
    if (data.preview) drawPreview(data.preview);
  } else if (event === "completed") {
    if (data.status === "succeeded") {
      remember(data.id);
      addCard(data, true);
      setMessage(`done in ${data.metrics.predict_time.toFixed(1)} s (seed ${data.metrics.seed})`);
    } else {
      setMessage(data.status === "canceled" ? "canceled" : `failed: ${data.error}`, data.status === "failed");
    }
  }
}

function drawPreview({ width, height, rgb }) {
  const bytes = Uint8Array.from(atob(rgb), (c) => c.charCodeAt(0));
  const px = new ImageData(width, height);
  for (let i = 0, j = 0; i < bytes.length; i += 3, j += 4) px.data.set([bytes[i], bytes[i + 1], bytes[i + 2], 255], j);
  const c = $("preview");
  c.width = width;
  c.height = height;
  c.getContext("2d").putImageData(px, 0, 0);
  c.hidden = false;
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  let input;
  try {
    input = readInput();
  } catch (err) {
    return setMessage(err.message, true);
  }
  run(input);
});

$("cancel").addEventListener("click", () => runningId && api(`/predictions/${runningId}/cancel`, { method: "POST" }));

// ---- gallery

function remember(id) {
  const ids = [id, ...JSON.parse(localStorage.getItem(GALLERY_KEY) ?? "[]").filter((x) => x !== id)].slice(0, 50);
  localStorage.setItem(GALLERY_KEY, JSON.stringify(ids));
}

function addCard(p, first) {
  const card = $("card").content.firstElementChild.cloneNode(true);
  for (const url of p.output) card.querySelector(".images").append(Object.assign(new Image(), { src: url, alt: p.input.prompt ?? p.input.task }));
  const i = p.input;
  card.querySelector(".prompt").textContent = i.task === "mix" ? `mix: ${(i.mix_texts ?? []).join(" + ") || "images"}` : i.prompt ?? "";
  card.querySelector(".params").textContent = [
    i.task, `${i.width}×${i.height}`, `${i.num_inference_steps} steps`, `prior ${i.num_steps_prior}`,
    `guidance ${i.guidance_scale}/${i.prior_guidance_scale}`, i.scheduler, `seed ${p.metrics.seed}`,
  ].join(" · ");
  card.querySelector(".rerun").addEventListener("click", () => run({ ...i, seed: p.metrics.seed }));
  card.querySelector(".use").addEventListener("click", () => fillForm(i, p.metrics.seed).catch((e) => setMessage(e.message, true)));
  $("gallery")[first ? "prepend" : "append"](card);
}

async function loadGallery() {
  const ids = JSON.parse(localStorage.getItem(GALLERY_KEY) ?? "[]");
  for (const id of ids) {
    const res = await api(`/predictions/${id}`);
    if (res.ok) {
      const p = await res.json();
      if (p.status === "succeeded") addCard(p, false);
    }
  }
}

// ---- server health

async function pollHealth() {
  try {
    const h = await (await fetch("/health-check")).json();
    $("health").textContent = h.status === "SETUP_FAILED" ? `setup failed: ${h.setup.logs}` : h.status.toLowerCase();
    if (h.status === "STARTING") setTimeout(pollHealth, 2000);
  } catch {
    $("health").textContent = "server unreachable";
  }
}

// The form is configured before the page says it is ready, and before the gallery offers its settings.
configureForm().then(showTask, (e) => setMessage(e.message, true)).finally(() => {
  pollHealth();
  loadGallery();
});
