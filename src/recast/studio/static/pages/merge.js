// Merge tuner (DeepFaceLab's interactive merger): scrub the destination frames, tune every merge setting
// on the current frame (the warm preview worker answers), keyframes in a session file, render + verify.
// DeepFaceLab's merger keys drive the same controls (MERGER_KEYS, listed on the page; Tab shows/hides it).
import { ApiError, followJob, getJSON, h, sendJSON, startJob } from "../api.js";
import { optionsForm } from "../forms.js";
import { progressView } from "./jobs.js";

// DeepFaceLab's merger keys: [key, setting, step (or "cycle"/"toggle")]; Shift = ×5 steps.
const NUDGES = [
  ["w", "erode", 1], ["s", "erode", -1], ["e", "blur", 1], ["d", "blur", -1],
  ["r", "motion_blur", 1], ["f", "motion_blur", -1], ["y", "sharpen_amount", 1], ["h", "sharpen_amount", -1],
  ["u", "output_face_scale", 1], ["j", "output_face_scale", -1], ["i", "denoise", 1], ["k", "denoise", -1],
  ["o", "bicubic_degrade", 1], ["l", "bicubic_degrade", -1], ["p", "color_degrade", 1], [";", "color_degrade", -1],
  [":", "color_degrade", -1], ["q", "hist_match_threshold", 1], ["a", "hist_match_threshold", -1],
  ["z", "masked_hist_match", "toggle"], ["x", "mask_mode", "cycle"], ["c", "color", "cycle"], ["n", "sharpen_mode", "cycle"],
];
const MODE_KEYS = { 1: "original", 2: "overlay", 3: "hist-match", 4: "seamless", 5: "seamless-hist-match", 6: "raw-rgb",
                    "`": "raw-predict" };
const MERGER_KEYS = [
  ["1 – 6, `", "mode: original, overlay, hist-match, seamless, seamless-hist-match, raw-rgb; ` raw-predict"],
  ["W / S", "erode up / down"], ["E / D", "blur up / down"], ["R / F", "motion blur up / down"],
  ["Y / H", "sharpen amount up / down"], ["U / J", "face scale up / down"], ["I / K", "denoise up / down"],
  ["O / L", "bicubic degrade up / down"], ["P / ;", "colour degrade up / down"],
  ["Q / A", "hist-match threshold up / down"], ["Z", "masked hist-match on / off"],
  ["X / C / N", "next mask mode / colour mode / sharpen mode (Shift: previous)"], ["Shift + a step key", "×5 steps"],
  [", / . (← / →)", "previous / next frame (Shift ×10 for arrows)"], ["Home / End", "first / last frame"],
  ["/", "next frame, carrying this frame's settings forward"], ["M", "take the previous frame's settings"],
  ["Tab", "show / hide this key list"],
];

const VIEWS = [["result", "Result"], ["before", "Before"], ["split", "Split"], ["mask", "Mask"]];

function summarize(changes) {
  const entries = Object.entries(changes);
  return entries.length ? entries.map(([k, v]) => `${k.replaceAll("_", " ")} ${v}`).join(", ") : "(base settings)";
}

async function loadBitmap(response) {
  return createImageBitmap(await response.blob());
}

// Number fields with a range get a slider beside them, kept in step with the number box (its input
// events bubble to the form like the box's own).
function addSliders(form, schema) {
  for (const [name, input] of Object.entries(form.inputs)) {
    const spec = schema.properties[name];
    if (input.type !== "number" || spec.minimum === undefined || spec.maximum === undefined) continue;
    const slider = h("input", { type: "range", class: "merge-slider", id: `slider-${name}`, min: spec.minimum,
                                max: spec.maximum, step: spec.type === "integer" ? 1 : 0.01, value: input.value,
                                "aria-label": name });
    slider.addEventListener("input", () => { input.value = slider.value; });
    input.addEventListener("input", () => { slider.value = input.value; });
    input.classList.add("merge-number");
    const pair = h("span", { class: "merge-control" });
    input.replaceWith(pair);
    pair.append(input, slider);
    input.sliderElement = slider;
  }
}

// What stands between the workspace and destination frames, in the order the Workspace page fixes it.
function missingFrames(state) {
  if (!state.videos.dst) return "No destination video or frames yet: add data_dst.mp4 on the Workspace page, then extract dst.";
  if (state.faces.dst) return `data_dst/ holds no frames, though ${state.faces.dst} dst faces were extracted: extract dst again on the Workspace page (it writes the frames and keeps the faces).`;
  return "No destination frames yet: extract dst on the Workspace page (it writes the frames of data_dst.mp4 into data_dst/).";
}

export async function render(root, { params }) {
  const [schema, framesInfo, state, masks] = await Promise.all([
    getJSON("/api/forms/merge"), getJSON("/api/merge/frames"), getJSON("/api/state"), getJSON("/api/xseg/models")]);
  const models = state.models.filter((m) => !m.error && !masks.includes(m.name)).map((m) => m.name);
  if (!framesInfo.count || !models.length) {
    root.append(h("section", { class: "panel" }, h("h2", {}, "Merge tuner"),
      h("p", { class: "muted" }, !framesInfo.count ? missingFrames(state) : "No model yet: train one first (Workspace page).")));
    return null;
  }
  const defaults = Object.fromEntries(Object.entries(schema.properties).map(([k, spec]) => [k, spec.default]));
  const total = framesInfo.count;
  let frame = Math.min(Math.max(Number.parseInt(params[0], 10) || 1, 1), total);
  let view = "result";
  let split = 0.5;
  let session = null;
  let dirty = false;
  let alive = true;
  const images = { result: null, mask: null, before: null, beforeFrame: 0 };

  // ---- controls ----
  const modelSelect = h("select", { id: "merge-model" },
                        models.map((name) => h("option", { value: name, selected: name === "default" }, name)));
  const xsegSelect = h("select", { id: "merge-xseg", title: "XSeg mask model for the xseg-* mask modes" },
                       h("option", { value: "" }, "(none)"), masks.map((name) => h("option", { value: name }, name)));
  const sessionInput = h("input", { id: "merge-session", type: "text", value: "default", size: 12, list: "merge-sessions" });
  const sessionList = h("datalist", { id: "merge-sessions" });
  const viewButtons = VIEWS.map(([id, title]) => h("button", { class: `secondary view-${id}`, id: `view-${id}`,
    onclick: () => { view = id; showView(); if (id === "mask" || id === "result" || id === "split") requestPreview(); } }, title));
  const canvas = h("canvas", { id: "merge-canvas", width: 16, height: 9 });
  const stageInfo = h("div", { id: "merge-info", class: "muted" }, "…");
  const slider = h("input", { type: "range", id: "merge-frame-slider", min: 1, max: total, value: frame, "aria-label": "frame" });
  const frameInput = h("input", { type: "number", id: "merge-frame", min: 1, max: total, value: frame, class: "merge-number" });
  const ticks = h("div", { class: "merge-ticks", id: "merge-ticks" });
  const form = optionsForm(schema, { initial: defaults });
  const editState = h("span", { id: "merge-edit-state", class: "muted" }, "");
  const error = h("div", { class: "error-text", id: "merge-error" });
  const keyList = h("tbody", { id: "merge-keyframes" });
  const replace = h("input", { type: "checkbox", id: "merge-replace" });  // only ever ticked by the user
  const renderButton = h("button", { id: "merge-render" }, "Render result.mp4");
  const progress = h("div", { id: "merge-progress" });
  const renderLog = h("div", { id: "merge-render-state", class: "muted" });
  const verifyBox = h("div", { id: "merge-verify" });
  const keyHelp = h("details", { class: "merge-key-help panel", id: "merge-key-help" }, h("summary", {}, "Keys (DeepFaceLab's merger keys; Tab)"),
    h("table", { id: "merge-keys" }, MERGER_KEYS.map(([keys, what]) => h("tr", {}, h("th", {}, keys), h("td", {}, what)))));

  function fullSettings() { return { ...defaults, ...form.values() }; }

  function setControls(settings) {
    for (const [name, input] of Object.entries(form.inputs)) {
      const value = settings[name];
      if (input.type === "checkbox") input.checked = Boolean(value);
      else input.value = String(value);
      if (input.sliderElement) input.sliderElement.value = input.value;
    }
  }

  function markDirty(value) {
    dirty = value;
    editState.textContent = dirty ? "edited: preview only until you add a keyframe or set the base" : "";
    editState.className = dirty ? "merge-dirty" : "muted";
  }

  // ---- drawing ----
  function showView() {
    for (const button of viewButtons) button.classList.toggle("active", button.id === `view-${view}`);
    draw();
  }

  function draw() {
    const before = images.beforeFrame === frame ? images.before : null;
    const picture = view === "before" ? before : view === "mask" ? images.mask : images.result;
    const base = picture ?? before;
    if (!base) return;
    if (canvas.width !== base.width || canvas.height !== base.height) {
      canvas.width = base.width;
      canvas.height = base.height;
    }
    const context = canvas.getContext("2d");
    context.drawImage(base, 0, 0);
    if (view === "split" && before && images.result) {
      const x = Math.round(canvas.width * split);
      context.drawImage(before, 0, 0);
      context.save();
      context.beginPath();
      context.rect(x, 0, canvas.width - x, canvas.height);
      context.clip();
      context.drawImage(images.result, 0, 0);
      context.restore();
      context.fillStyle = "#4f9cf9";
      context.fillRect(x - 1, 0, 2, canvas.height);
      context.font = `${Math.max(14, canvas.height / 30)}px system-ui`;
      context.fillStyle = "rgba(0,0,0,.55)";
      context.fillRect(8, 8, 70, 26);
      context.fillRect(canvas.width - 78, 8, 70, 26);
      context.fillStyle = "#fff";
      context.fillText("before", 14, 27);
      context.fillText("after", canvas.width - 70, 27);
    }
  }

  canvas.addEventListener("pointermove", (event) => {
    if (view !== "split" || !(event.buttons & 1)) return;
    const box = canvas.getBoundingClientRect();
    split = Math.min(Math.max((event.clientX - box.left) / box.width, 0), 1);
    draw();
  });

  // ---- preview: one request in flight, the latest wanted state wins ----
  let wanted = null;
  let busy = false;
  let previews = 0;

  function requestPreview() {
    wanted = { frame, view: view === "mask" ? "mask" : "result", settings: form.values(), model: modelSelect.value,
               xseg: xsegSelect.value || null };
    if (!busy) pump();
  }

  async function pump() {
    busy = true;
    while (wanted && alive) {
      const request = wanted;
      wanted = null;
      const started = performance.now();
      try {
        const response = await fetch("/api/merge/preview", { method: "POST", credentials: "same-origin",
          headers: { "content-type": "application/json" }, body: JSON.stringify(request) });
        if (response.status === 409 && (await response.clone().text()).includes("superseded")) continue;
        if (!response.ok) {
          let message = await response.text();
          try { message = JSON.parse(message).detail; } catch { /* plain text */ }
          throw new ApiError(response.status, message);
        }
        const info = JSON.parse(response.headers.get("x-recast-preview") || "{}");
        const bitmap = await loadBitmap(response);
        if (request.frame !== frame) continue;
        images[request.view] = bitmap;
        error.textContent = "";
        previews += 1;
        canvas.dataset.previews = String(previews);
        const faces = info.faces_merged === 1 ? "1 face" : `${info.faces_merged} faces`;
        stageInfo.textContent = `frame ${frame}/${total} · ${info.name} · ${faces}` +
          (info.faces_masked_out ? ` · ${info.faces_masked_out} masked out` : "") +
          (info.iteration != null ? ` · model at iteration ${info.iteration}` : "") +
          (info.xseg_iteration != null ? ` · XSeg at ${info.xseg_iteration}` : "") +
          ` · merge ${info.worker_ms} ms · round trip ${Math.round(performance.now() - started)} ms`;
        draw();
      } catch (failure) {
        error.textContent = failure.message;
      }
    }
    busy = false;
  }

  // ---- frames ----
  async function loadBefore(number) {
    const response = await fetch(`/api/merge/frames/${number}`, { credentials: "same-origin" });
    if (!response.ok) return;
    const bitmap = await loadBitmap(response);
    if (number !== frame) return;
    images.before = bitmap;
    images.beforeFrame = number;
    draw();
  }

  async function goTo(wantedFrame) {
    const number = Math.min(Math.max(wantedFrame, 1), total);
    frame = number;
    slider.value = frame;
    frameInput.value = frame;
    history.replaceState(null, "", `#/merge/${frame}`);
    images.result = null;
    images.mask = null;
    loadBefore(frame);
    renderKeyframes();
    if (!dirty) {
      const settings = await getJSON(`/api/merge/sessions/${encodeURIComponent(sessionName())}/settings?frame=${frame}`);
      if (frame !== number || dirty) return;
      setControls(settings);
    }
    requestPreview();
  }

  slider.addEventListener("input", () => goTo(Number(slider.value)));
  frameInput.addEventListener("change", () => goTo(Number(frameInput.value)));
  // DeepFaceLab's merger keys change the form's controls as a user would (the form's input event follows).
  function changeSetting(name, how, shift) {
    const input = form.inputs[name];
    if (!input) return;
    const spec = schema.properties[name];
    if (how === "toggle") input.checked = !input.checked;
    else if (how === "cycle") {
      const choices = spec.enum, index = choices.indexOf(input.value);
      input.value = choices[(index + (shift ? -1 : 1) + choices.length) % choices.length];
    } else {
      const value = Number(input.value) + how * (shift ? 5 : 1);
      input.value = String(Math.min(Math.max(value, spec.minimum), spec.maximum));
    }
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }

  async function takePrevious() {
    if (frame <= 1) return;
    setControls(await getJSON(`/api/merge/sessions/${encodeURIComponent(sessionName())}/settings?frame=${frame - 1}`));
    markDirty(true);
    requestPreview();
  }

  const onKey = (event) => {
    if (["INPUT", "SELECT", "TEXTAREA"].includes(event.target.tagName) && event.target !== slider) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target === slider) event.preventDefault();
    const step = event.shiftKey ? 10 : 1;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const nudge = NUDGES.find(([k]) => k === key);
    if (event.key === "ArrowRight" || key === "." || key === ">") goTo(frame + step);
    else if (event.key === "ArrowLeft" || key === "," || key === "<") goTo(frame - step);
    else if (event.key === "Home") goTo(1);
    else if (event.key === "End") goTo(total);
    else if (key === "/") goTo(frame + 1);  // the edited settings stay (unsaved) and preview on the next frame
    else if (key === "m") takePrevious();
    else if (key in MODE_KEYS) { form.inputs.mode.value = MODE_KEYS[key]; form.inputs.mode.dispatchEvent(new Event("input", { bubbles: true })); }
    else if (event.key === "Tab") { event.preventDefault(); keyHelp.open = !keyHelp.open; }
    else if (nudge) { event.preventDefault(); changeSetting(nudge[1], nudge[2], event.shiftKey); }
  };
  document.addEventListener("keydown", onKey);

  // ---- settings ----
  addSliders(form, schema);
  form.element.addEventListener("input", () => { markDirty(true); requestPreview(); });
  form.element.classList.add("merge-form");

  // ---- session and keyframes ----
  function sessionName() { return sessionInput.value.trim() || "default"; }

  function renderKeyframes() {
    const keys = Object.keys(session?.keyframes ?? {}).map(Number).sort((a, b) => a - b);
    keyList.replaceChildren(...(keys.length ? keys.map((number) => h("tr", { class: number === frame ? "current" : "" },
      h("td", {}, h("a", { href: `#/merge/${number}`, onclick: (event) => { event.preventDefault(); markDirty(false); goTo(number); } },
                    `frame ${number}`)),
      h("td", { class: "muted" }, summarize(session.keyframes[String(number)])),
      h("td", {}, h("button", { class: "secondary delete-keyframe", dataset: { frame: number }, onclick: async () => {
        await updateSession(() => fetch(`/api/merge/sessions/${encodeURIComponent(sessionName())}/keyframes/${number}`,
                                        { method: "DELETE", credentials: "same-origin" }).then((r) => r.json()));
      } }, "Delete"))))
      : [h("tr", {}, h("td", { class: "muted", colspan: 3 }, "No keyframes: the base settings apply to every frame."))]));
    ticks.replaceChildren(...keys.map((number) => h("span", { class: `merge-tick${number === frame ? " current" : ""}`,
      title: `keyframe at frame ${number}`, style: `left: ${total > 1 ? ((number - 1) / (total - 1)) * 100 : 0}%` })));
  }

  async function updateSession(call) {
    error.textContent = "";
    try {
      const answer = await call();
      if (answer.detail) throw new Error(typeof answer.detail === "string" ? answer.detail : JSON.stringify(answer.detail));
      session = answer.session;
      markDirty(false);
      renderKeyframes();
      await goTo(frame);
    } catch (failure) { error.textContent = failure.message; }
  }

  // The session keeps the model and XSeg model it was tuned with (restored here, saved with the base
  // settings and keyframes).
  function restoreChoices(choices) {
    if (models.includes(choices.model)) modelSelect.value = choices.model;
    xsegSelect.value = choices.xseg && masks.includes(choices.xseg) ? choices.xseg : "";
  }

  const saveChoices = () => sendJSON(`/api/merge/sessions/${encodeURIComponent(sessionName())}/choices`,
                                     { model: modelSelect.value, xseg: xsegSelect.value || null }, "PUT");

  async function loadSession() {
    const answer = await getJSON(`/api/merge/sessions/${encodeURIComponent(sessionName())}`);
    session = answer.session;
    restoreChoices(answer.choices);
    markDirty(false);
    await goTo(frame);
  }

  const addKeyframe = h("button", { id: "merge-add-keyframe", onclick: () => updateSession(async () => {
    await saveChoices();
    return sendJSON(`/api/merge/sessions/${encodeURIComponent(sessionName())}/keyframes/${frame}`, fullSettings(), "PUT");
  }) }, "Add keyframe at this frame");
  const setBase = h("button", { id: "merge-set-base", class: "secondary", onclick: () => updateSession(async () => {
    await saveChoices();
    return sendJSON(`/api/merge/sessions/${encodeURIComponent(sessionName())}/base`, fullSettings(), "PUT");
  }) }, "Use as base settings");
  const revert = h("button", { id: "merge-revert", class: "secondary", onclick: () => { markDirty(false); goTo(frame); } },
    "Revert");
  sessionInput.addEventListener("change", loadSession);
  modelSelect.addEventListener("change", requestPreview);
  xsegSelect.addEventListener("change", requestPreview);

  // ---- render ----
  let stopFollowing = null;
  function showVerify(result) {
    const report = result.verify;
    const row = (ok, what) => h("tr", {}, h("td", { class: ok ? "good" : ok === null ? "muted" : "bad" }, ok ? "✓" : ok === null ? "–" : "✗"),
                                h("td", {}, what));
    verifyBox.replaceChildren(
      h("p", { id: "merge-verdict", class: result.verified ? "good" : "bad" },
        result.verified ? `verify passed: ${report.verdict}` : `verify FAILED: ${Object.values(report.failed).join("; ")}`),
      h("table", { class: "merge-verify-table" },
        row(report.container_tag, "container tag"),
        row(report.sidecar_ok, `provenance sidecar${report.result_hash === "ok" ? " (result unchanged since labelling)" : ""}`),
        row(report.watermark, `invisible watermark in ${report.frames_marked}/${report.frames_checked} frames (median score ${report.median_score?.toFixed(1)})`),
        row(report.c2pa ? report.c2pa.synthetic && report.c2pa.signature_valid : null,
            report.c2pa ? `C2PA manifest signed by ${report.c2pa.signer}` : "C2PA manifest: none")),
      h("p", { class: "muted" }, `${result.output} + ${result.mask}: ${result.frames} frames, ${result.faces_merged} faces, ` +
        `${result.seconds} s` + (result.keyframes.length ? `, keyframes at ${result.keyframes.join(", ")}` : "") +
        (result.backup ? `; the previous result is in ${result.backup}` : "")));
  }

  renderButton.addEventListener("click", async () => {
    error.textContent = "";
    verifyBox.replaceChildren();
    const saved = await getJSON(`/api/merge/sessions/${encodeURIComponent(sessionName())}`);
    const options = { model: modelSelect.value, force: replace.checked };
    if (xsegSelect.value) options.xseg = xsegSelect.value;
    if (saved.exists) options.session = saved.path;  // else the default settings: nothing saved yet
    try {
      const job = await startJob("render", options);
      renderButton.disabled = true;
      const [bar, feed, finish] = progressView(job);
      progress.replaceChildren(bar);
      renderLog.replaceChildren("rendering… ", h("a", { href: `#/jobs/${job.id}` }, `job #${job.id}`));
      stopFollowing = followJob(job.id, (event) => {
        feed(event);
        if (["done", "failed", "cancelled"].includes(event.type)) finish(event.type);
        if (event.type === "progress" && event.message) {
          renderLog.replaceChildren(`${event.message} · `, h("a", { href: `#/jobs/${job.id}` }, `job #${job.id}`));
        }
        if (event.type === "done") {
          renderButton.disabled = false;
          renderLog.replaceChildren(h("span", { class: "state-done" }, "rendered "), h("a", { href: `#/jobs/${job.id}` }, `job #${job.id}`));
          showVerify(event.result);
        }
        if (event.type === "failed" || event.type === "cancelled") {
          renderButton.disabled = false;
          renderLog.replaceChildren(h("span", { class: "bad" }, `${event.type}: ${event.message ?? ""}`));
        }
      });
    } catch (failure) { error.textContent = failure.message; }
  });

  // ---- layout ----
  root.append(
    h("section", { class: "panel merge-toolbar" },
      h("h2", {}, "Merge tuner"),
      h("label", { for: "merge-model" }, "Model "), modelSelect,
      h("label", { for: "merge-xseg" }, " XSeg "), xsegSelect,
      h("label", { for: "merge-session" }, " Session "), sessionInput, sessionList,
      h("span", { class: "merge-views" }, viewButtons),
      h("span", { class: "muted merge-keys" }, "← → frame · shift ×10 · drag in split view · Tab: keys")),
    h("div", { class: "merge-layout" },
      h("div", {},
        h("section", { class: "panel merge-stage" }, canvas, stageInfo,
          h("div", { class: "merge-scrub" },
            h("button", { class: "secondary", id: "merge-prev", onclick: () => goTo(frame - 1), title: "previous frame (←)" }, "◀"),
            h("div", { class: "merge-track" }, slider, ticks),
            h("button", { class: "secondary", id: "merge-next", onclick: () => goTo(frame + 1), title: "next frame (→)" }, "▶"),
            h("span", {}, "frame "), frameInput, h("span", { class: "muted" }, ` / ${total}`))),
        h("section", { class: "panel" }, h("h2", {}, "Keyframes"),
          h("table", { class: "merge-keyframe-table" }, keyList),
          h("p", { class: "muted" }, "Numeric settings are interpolated between keyframes; the others hold until the next keyframe that sets them.")),
        h("section", { class: "panel" }, h("h2", {}, "Render"),
          h("p", {}, renderButton, " ", h("label", {}, replace, " replace an existing result (the old one goes to .recast/backup)")),
          progress, renderLog, verifyBox)),
      h("section", { class: "panel merge-settings" }, h("h2", {}, "Settings"),
        h("p", {}, addKeyframe, " ", setBase, " ", revert), editState, error, keyHelp, form.element)));

  getJSON("/api/merge/sessions").then((names) => sessionList.replaceChildren(...names.map((name) => h("option", { value: name }))));
  showView();
  await loadSession();
  return () => {
    alive = false;
    document.removeEventListener("keydown", onKey);
    if (stopFollowing) stopFollowing();
  };
}
