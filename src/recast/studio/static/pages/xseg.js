// XSeg page: the label editor (include/exclude polygons on aligned faces, the mask model's prediction,
// zoom and pan, insert/delete points, undo/redo, saving into the face's metadata) and the XSeg jobs
// (train with its progress and preview, apply, remove, fetch). The keys are listed in KEYS (shown on
// the page): DeepFaceLab's beside recast's own.
import { ApiError, followJob, getJSON, h, startJob } from "../api.js";
import { optionsForm } from "../forms.js";

const VIEW = 512;          // canvas side in CSS pixels
const GRAB = 8;            // canvas pixels within which a click grabs a point or an edge
const MAX_ZOOM = 12;

const KEYS = [
  ["click", "add a point; click the first point (or Enter) closes the polygon"],
  ["Q / W (I / E)", "include / exclude mode (each new face starts in include)"],
  ["Ctrl+Z / Ctrl+Y", "undo (the last point while drawing) / redo"],
  ["Esc", "drop the polygon being drawn"],
  ["double-click or Shift+click an edge", "insert a point"],
  ["right-click or Delete on a point", "delete the point"],
  ["Shift+Delete", "delete the selected polygon (click one of its points or edges)"],
  ["wheel, + / -, 0", "zoom at the cursor, reset the view"],
  ["middle drag, Space+drag, arrows", "pan"],
  ["A / D (, / .)", "previous / next face (saves)"],
  ["N", "next unlabelled face"],
  ["` (backtick)", "show / hide the model's prediction"],
  ["Ctrl+S", "save"],
];

async function putJSON(url, body) {
  const response = await fetch(url, { method: "PUT", credentials: "same-origin",
                                      headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (!response.ok) {
    let message = await response.text();
    try { message = JSON.parse(message).detail; } catch { /* plain text */ }
    throw new ApiError(response.status, message);
  }
  return response.json();
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`could not load ${url}`));
    image.src = url;
  });
}

// The prediction (grayscale PNG, white = face) as a canvas tinting what the mask leaves out red and
// outlining its border, so it reads at a glance over any face; and the iteration it came from.
async function loadPrediction(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new ApiError(response.status, await response.text());
  const info = JSON.parse(response.headers.get("x-recast-preview") || "{}");
  const bitmap = await createImageBitmap(await response.blob());
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width; canvas.height = bitmap.height;
  const c = canvas.getContext("2d");
  c.drawImage(bitmap, 0, 0);
  const pixels = c.getImageData(0, 0, canvas.width, canvas.height);
  const d = pixels.data, w = canvas.width;
  const inside = (i) => d[i * 4] >= 128;
  const mask = new Uint8Array(w * canvas.height);
  for (let i = 0; i < mask.length; i++) mask[i] = inside(i) ? 1 : 0;
  for (let i = 0; i < mask.length; i++) {
    const x = i % w;
    const edge = (x > 0 && mask[i - 1] !== mask[i]) || (i >= w && mask[i - w] !== mask[i]);
    const out = 1 - d[i * 4] / 255;
    if (edge) { d[i * 4] = 255; d[i * 4 + 1] = 230; d[i * 4 + 2] = 0; d[i * 4 + 3] = 255; }
    else { d[i * 4] = 230; d[i * 4 + 1] = 20; d[i * 4 + 2] = 60; d[i * 4 + 3] = Math.round(170 * out); }
  }
  c.putImageData(pixels, 0, 0);
  return { canvas, iteration: info.iteration ?? null };
}

function segmentDistance([px, py], [ax, ay], [bx, by]) {
  const dx = bx - ax, dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy || 1)));
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

export async function render(root, { params }) {
  const side = params[0] === "src" ? "src" : "dst";
  const [faces, models, schema] = await Promise.all([getJSON(`/api/xseg/${side}/faces`), getJSON("/api/xseg/models"),
                                                     getJSON("/api/forms/xseg-train")]);
  const state = { index: 0, polygons: [], current: [], mode: "include", undo: [], redo: [], dirty: false,
                  image: null, prediction: null, showPrediction: true, drag: null, pan: null, space: false,
                  hover: null, selected: null, base: 1, zoom: 1, ox: 0, oy: 0, mouse: [VIEW / 2, VIEW / 2],
                  confirmExcludeOnly: false };
  const stops = [];

  const canvas = h("canvas", { id: "xseg-canvas", width: VIEW, height: VIEW, tabindex: 0, class: "xseg-canvas" });
  const ctx = canvas.getContext("2d");
  const title = h("span", { id: "xseg-face" });
  const status = h("p", { id: "xseg-status", class: "muted" });
  const warning = h("div", { id: "xseg-warning", class: "xseg-warning", hidden: true });
  const zoomInfo = h("span", { id: "xseg-zoom", class: "muted" });
  const predictionInfo = h("p", { id: "xseg-prediction-info", class: "muted" }, "No prediction shown.");
  const modeButton = h("button", { id: "xseg-mode", class: "secondary",
                                   onclick: () => setMode(state.mode === "include" ? "exclude" : "include") });
  const modelSelect = h("select", { id: "xseg-model", onchange: () => refreshPrediction() },
                        h("option", { value: "" }, "(no prediction)"), models.map((m) => h("option", { value: m }, m)));
  const list = h("div", { id: "xseg-list", class: "xseg-list" });

  const scale = () => state.base * state.zoom;
  const toCanvas = ([x, y]) => [x * scale() + state.ox, y * scale() + state.oy];
  const snapshot = () => JSON.stringify(state.polygons);
  function remember() { state.undo.push(snapshot()); state.redo = []; state.dirty = true; }
  function setMode(mode) { state.mode = mode; modeButton.textContent = `mode: ${mode} (Q/W)`; draw(); }
  const face = () => faces[state.index];

  function clampView() {
    const size = VIEW * state.zoom;
    state.ox = Math.min(0, Math.max(VIEW - size, state.ox));
    state.oy = Math.min(0, Math.max(VIEW - size, state.oy));
  }
  function zoomAt(factor, [cx, cy]) {
    const zoom = Math.max(1, Math.min(MAX_ZOOM, state.zoom * factor));
    const k = zoom / state.zoom;
    state.ox = cx - (cx - state.ox) * k; state.oy = cy - (cy - state.oy) * k; state.zoom = zoom;
    clampView(); draw();
  }
  function panBy(dx, dy) { state.ox += dx; state.oy += dy; clampView(); draw(); }
  function resetView() { state.zoom = 1; state.ox = 0; state.oy = 0; draw(); }

  function draw() {
    ctx.clearRect(0, 0, VIEW, VIEW);
    if (!state.image) return;
    const s = scale();
    ctx.imageSmoothingEnabled = state.zoom < 3;
    ctx.drawImage(state.image, state.ox, state.oy, state.image.naturalWidth * s, state.image.naturalHeight * s);
    if (state.prediction && state.showPrediction) {
      ctx.drawImage(state.prediction.canvas, state.ox, state.oy, state.prediction.canvas.width * s,
                    state.prediction.canvas.height * s);
    }
    const shape = (points, type, closed, selected) => {
      if (!points.length) return;
      ctx.beginPath();
      points.map(toCanvas).forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      if (closed) ctx.closePath();
      const colour = type === "include" ? "92, 201, 138" : "242, 109, 109";
      if (closed) { ctx.fillStyle = `rgba(${colour}, ${selected ? 0.35 : 0.2})`; ctx.fill(); }
      ctx.strokeStyle = `rgb(${colour})`; ctx.lineWidth = selected ? 3.5 : 2; ctx.stroke();
      ctx.fillStyle = `rgb(${colour})`;
      for (const point of points) {
        const [x, y] = toCanvas(point);
        const big = state.hover && state.hover.point === point;
        ctx.fillRect(x - (big ? 5 : 3), y - (big ? 5 : 3), big ? 10 : 6, big ? 10 : 6);
      }
    };
    state.polygons.forEach((p) => shape(p.points, p.type, true, p === state.selected));
    shape(state.current, state.mode, false, false);
    const f = face();
    title.textContent = `${side}/${f.name} (${state.index + 1}/${faces.length})`;
    const includes = state.polygons.filter((p) => p.type === "include").length;
    status.textContent = `${state.polygons.length} polygon(s), ${includes} include` +
      (state.dirty ? " · unsaved" : " · saved") +
      (state.current.length ? ` · drawing ${state.current.length} point(s): Enter closes` : "") +
      (state.selected ? " · 1 selected" : "");
    zoomInfo.textContent = `zoom ${state.zoom.toFixed(1)}×`;
    for (const [i, row] of [...list.children].entries()) row.classList.toggle("active", i === state.index);
  }

  function showWarning(text, actions) {
    warning.replaceChildren(h("span", {}, text), " ",
      ...actions.map(([id, label, action]) => h("button", { id, class: "secondary", onclick: () => { hideWarning(); action(); } }, label)));
    warning.hidden = false;
  }
  function hideWarning() { warning.hidden = true; warning.replaceChildren(); }

  async function refreshPrediction() {
    state.prediction = null;
    const model = modelSelect.value;
    if (!model || !faces.length) { predictionInfo.textContent = "No prediction shown."; draw(); return; }
    try {
      const url = `/api/xseg/${side}/faces/${encodeURIComponent(face().name)}/prediction?model=${encodeURIComponent(model)}`;
      state.prediction = await loadPrediction(url);
      predictionInfo.textContent = `Prediction of model/${model} at iteration ${state.prediction.iteration ?? "?"}` +
        " (red: left out of the mask, yellow: its border; ` hides it)";
    } catch (error) { predictionInfo.textContent = `no prediction: ${error.message}`; }
    draw();
  }

  // Moving to another face: an unfinished polygon is finished or dropped only when the user says so.
  async function open(index) {
    const target = Math.max(0, Math.min(faces.length - 1, index));
    if (state.image && state.current.length) {
      const n = state.current.length;
      showWarning(`This face has an unfinished polygon (${n} point${n === 1 ? "" : "s"}).`, [
        ...(n >= 3 ? [["xseg-finish-go", "close it, save and go on", () => { closeCurrent(); open(target); }]] : []),
        ["xseg-drop-go", "drop it and go on", () => { state.current = []; open(target); }],
        ["xseg-stay", "stay", () => draw()]]);
      return;
    }
    if (state.image && state.dirty && !(await save(() => open(target)))) return;
    hideWarning();
    state.index = target;
    const name = encodeURIComponent(face().name);
    const [image, labels] = await Promise.all([loadImage(`/api/xseg/${side}/faces/${name}/image`),
                                               getJSON(`/api/xseg/${side}/faces/${name}/labels`)]);
    Object.assign(state, { image, polygons: labels.polygons, current: [], undo: [], redo: [], dirty: false,
                           selected: null, hover: null, base: VIEW / image.naturalWidth, confirmExcludeOnly: false });
    resetView();
    setMode("include");
    await refreshPrediction();
  }

  // Save the face's polygons. A face with only exclude polygons masks nothing: warn first, and save
  // only after "save anyway" (then run ``then``). Returns whether it saved.
  async function save(then = null) {
    if (!faces.length) return true;
    const onlyExclude = state.polygons.length > 0 && state.polygons.every((p) => p.type === "exclude");
    if (onlyExclude && !state.confirmExcludeOnly) {
      showWarning("This face has only exclude polygons: an exclude polygon cuts out of an include polygon, so it masks nothing on its own.", [
        ["xseg-save-anyway", "save anyway", async () => { state.confirmExcludeOnly = true; if (await save() && then) then(); }],
        ["xseg-keep-editing", "keep editing", () => draw()]]);
      return false;
    }
    try {
      await putJSON(`/api/xseg/${side}/faces/${encodeURIComponent(face().name)}/labels`, { polygons: state.polygons });
      state.dirty = false;
      face().labelled = state.polygons.length > 0;
      list.children[state.index].textContent = `${face().labelled ? "●" : "○"} ${face().name}`;
      draw();
      return true;
    } catch (error) { status.textContent = `not saved: ${error.message}`; return false; }
  }

  function closeCurrent() {
    if (state.current.length < 3) return;
    remember();
    state.polygons.push({ type: state.mode, points: state.current });
    state.current = [];
    state.confirmExcludeOnly = false;
    draw();
  }

  function undo() {
    if (state.current.length) { state.current.pop(); draw(); return; }
    if (!state.undo.length) return;
    state.redo.push(snapshot()); state.polygons = JSON.parse(state.undo.pop());
    state.dirty = true; state.selected = null; state.hover = null; draw();
  }
  function redo() {
    if (!state.redo.length) return;
    state.undo.push(snapshot()); state.polygons = JSON.parse(state.redo.pop());
    state.dirty = true; state.selected = null; state.hover = null; draw();
  }

  function deletePoint(hit) {
    remember();
    hit.polygon.points.splice(hit.polygon.points.indexOf(hit.point), 1);
    if (hit.polygon.points.length < 3) state.polygons.splice(state.polygons.indexOf(hit.polygon), 1);
    state.hover = null; state.selected = null; draw();
  }
  function deletePolygon() {
    if (!state.selected) return;
    remember();
    state.polygons.splice(state.polygons.indexOf(state.selected), 1);
    state.selected = null; state.hover = null; draw();
  }
  function insertPoint(edge, point) {
    remember();
    const inserted = [point[0], point[1]];
    edge.polygon.points.splice(edge.index + 1, 0, inserted);
    state.selected = edge.polygon; state.hover = { polygon: edge.polygon, point: inserted }; draw();
  }

  function canvasPoint(event) {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * VIEW / box.width, (event.clientY - box.top) * VIEW / box.height];
  }
  const facePoint = ([cx, cy]) => [(cx - state.ox) / scale(), (cy - state.oy) / scale()];
  function pointAt(c) {
    for (const polygon of [...state.polygons].reverse()) {
      for (const point of polygon.points) {
        const [x, y] = toCanvas(point);
        if (Math.hypot(x - c[0], y - c[1]) <= GRAB) return { polygon, point };
      }
    }
    return null;
  }
  function edgeAt(c) {
    for (const polygon of [...state.polygons].reverse()) {
      const points = polygon.points.map(toCanvas);
      for (let i = 0; i < points.length; i++) {
        if (segmentDistance(c, points[i], points[(i + 1) % points.length]) <= GRAB) return { polygon, index: i };
      }
    }
    return null;
  }

  canvas.addEventListener("mousedown", (event) => {
    canvas.focus();
    const c = canvasPoint(event);
    if (event.button === 1 || (event.button === 0 && state.space)) {
      state.pan = { x: event.clientX, y: event.clientY }; event.preventDefault(); return;
    }
    if (event.button !== 0) return;
    if (!state.current.length) {
      const hit = pointAt(c);
      if (hit) { remember(); state.drag = hit.point; state.selected = hit.polygon; draw(); return; }
      const edge = edgeAt(c);
      if (edge && event.shiftKey) { insertPoint(edge, facePoint(c)); return; }
      if (edge) { state.selected = edge.polygon; draw(); return; }
    }
    state.selected = null;
    if (state.current.length >= 3 && Math.hypot(...toCanvas(state.current[0]).map((v, i) => v - c[i])) <= GRAB) {
      closeCurrent(); return;
    }
    state.current.push(facePoint(c));
    draw();
  });
  canvas.addEventListener("dblclick", (event) => {
    const c = canvasPoint(event);
    const edge = state.current.length ? null : edgeAt(c);
    if (edge && !pointAt(c)) insertPoint(edge, facePoint(c));
  });
  canvas.addEventListener("contextmenu", (event) => {
    event.preventDefault();
    const hit = state.current.length ? null : pointAt(canvasPoint(event));
    if (hit) deletePoint(hit);
  });
  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    zoomAt(event.deltaY < 0 ? 1.25 : 1 / 1.25, canvasPoint(event));
  }, { passive: false });
  const onMouseMove = (event) => {
    if (state.pan) {
      const box = canvas.getBoundingClientRect();
      panBy((event.clientX - state.pan.x) * VIEW / box.width, (event.clientY - state.pan.y) * VIEW / box.height);
      state.pan = { x: event.clientX, y: event.clientY }; return;
    }
    if (event.target !== canvas && !state.drag) return;
    const c = canvasPoint(event);
    state.mouse = c;
    if (state.drag) { [state.drag[0], state.drag[1]] = facePoint(c); draw(); return; }
    const hover = state.current.length ? null : pointAt(c);
    if ((hover && hover.point) !== (state.hover && state.hover.point)) { state.hover = hover; draw(); }
  };
  const onMouseUp = () => { state.drag = null; state.pan = null; };
  window.addEventListener("mousemove", onMouseMove);
  window.addEventListener("mouseup", onMouseUp);

  function onKey(event) {
    if (event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement ||
        event.target instanceof HTMLTextAreaElement) return;
    if (!document.body.contains(canvas)) return;
    const key = event.key.toLowerCase();
    const ctrl = event.ctrlKey || event.metaKey;
    const act = (fn) => { fn(); event.preventDefault(); };
    if (ctrl && key === "z" && !event.shiftKey) act(undo);
    else if (ctrl && (key === "y" || (key === "z" && event.shiftKey))) act(redo);
    else if (ctrl && key === "s") act(() => save());
    else if (ctrl) return;
    else if (key === "enter") closeCurrent();
    else if (key === "escape") { state.current = []; hideWarning(); draw(); }
    else if (key === "backspace") act(undo);
    else if (key === "delete" && event.shiftKey) act(deletePolygon);
    else if (key === "delete") act(() => { if (state.hover) deletePoint(state.hover); else deletePolygon(); });
    else if (key === "q" || key === "i") setMode("include");
    else if (key === "w" || key === "e") setMode("exclude");
    else if (key === "d" || key === ".") open(state.index + 1);
    else if (key === "a" || key === ",") open(state.index - 1);
    else if (key === "`") { state.showPrediction = !state.showPrediction; draw(); }
    else if (key === "+" || key === "=") zoomAt(1.25, state.mouse);
    else if (key === "-") zoomAt(1 / 1.25, state.mouse);
    else if (key === "0") resetView();
    else if (key.startsWith("arrow")) {
      const step = 40;
      act(() => panBy(key === "arrowleft" ? step : key === "arrowright" ? -step : 0,
                      key === "arrowup" ? step : key === "arrowdown" ? -step : 0));
    } else if (key === " " && !(event.target instanceof HTMLButtonElement)) { state.space = true; canvas.classList.add("panning"); event.preventDefault(); }
    else if (key === "n") {
      const next = faces.findIndex((f, i) => i > state.index && !f.labelled);
      if (next >= 0) open(next);
    }
  }
  const onKeyUp = (event) => { if (event.key === " ") { state.space = false; canvas.classList.remove("panning"); } };
  window.addEventListener("keydown", onKey);
  window.addEventListener("keyup", onKeyUp);

  // The XSeg jobs: train (its progress and preview refresh here), apply, remove, fetch.
  const trainForm = optionsForm(schema, { only: ["name", "model", "faces", "iterations", "more", "minutes",
                                                  "batch_size", "preview_every", "device", "threads", "workers"],
                                        prefix: "xseg-train" });
  const progressBar = h("progress", { id: "xseg-train-bar", max: 1, value: 0 });
  const progressText = h("span", { id: "xseg-train-progress", class: "muted" }, "not training");
  const preview = h("img", { id: "xseg-preview", class: "xseg-preview", alt: "XSeg training preview", hidden: true });
  const previewInfo = h("p", { id: "xseg-preview-info", class: "muted" }, "No preview yet.");
  const jobStatus = h("p", { id: "xseg-job-status", class: "muted" });
  const modelName = () => trainForm.values().name || schema.properties.name.default;

  async function showModel(name) {
    let model;
    try { model = await getJSON(`/api/xseg/models/${encodeURIComponent(name)}`); } catch { return null; }
    if (model.preview) {
      preview.src = `/api/xseg/models/${encodeURIComponent(name)}/preview.png?t=${model.preview}`;
      preview.hidden = false;
      previewInfo.textContent = `model/${name} preview from iteration ${model.preview_iteration ?? "?"} ` +
        `(saved at ${model.iteration}); rows: ${model.columns.join(" | ")}`;
    } else {
      preview.hidden = true;
      previewInfo.textContent = model.exists ? `model/${name} at iteration ${model.iteration}: no preview yet.` : "No preview yet.";
    }
    return model;
  }

  async function addModel(name) {
    if (![...modelSelect.options].some((o) => o.value === name)) modelSelect.append(h("option", { value: name }, name));
  }

  function follow(jobId, name) {
    jobStatus.replaceChildren("xseg-train ", h("a", { href: `#/jobs/${jobId}` }, `job #${jobId}`), " running");
    stops.push(followJob(jobId, (event) => {
      if (event.type === "progress") {
        if (event.total) { progressBar.max = event.total; progressBar.value = event.iteration; }
        const loss = event.losses && event.losses.loss !== undefined ? ` · loss ${Number(event.losses.loss).toFixed(4)}` : "";
        progressText.textContent = `iteration ${event.iteration}${event.total ? ` of ${event.total}` : ""}` +
          (event.ms_per_iter ? ` · ${event.ms_per_iter} ms/it` : "") + loss;
        if (event.kind === "preview" || event.kind === "done") showModel(name);
      } else if (["done", "failed", "cancelled"].includes(event.type)) {
        jobStatus.replaceChildren("xseg-train ", h("a", { href: `#/jobs/${jobId}` }, `job #${jobId}`),
          ` ${event.type}${event.message ? `: ${event.message}` : ""}`);
        if (event.type === "done") { progressText.textContent = `done at iteration ${event.result.iteration}`; addModel(name); }
        showModel(name);
      }
    }));
  }

  async function train() {
    const options = trainForm.values();
    try {
      const job = await startJob("xseg-train", options);
      follow(job.id, options.name || schema.properties.name.default);
    } catch (error) { jobStatus.textContent = `not started: ${error.message}`; }
  }

  async function tool(task, options, describe) {
    jobStatus.textContent = `${task} running…`;
    try {
      const job = await startJob(task, options);
      stops.push(followJob(job.id, (event) => {
        if (event.type === "progress" && event.total) jobStatus.textContent = `${task}: ${event.done} of ${event.total} faces`;
        if (event.type === "done") { jobStatus.textContent = describe(event.result); refreshPrediction(); }
        if (event.type === "failed" || event.type === "cancelled") jobStatus.textContent = `${task} ${event.type}: ${event.message}`;
      }));
    } catch (error) { jobStatus.textContent = `${task} not started: ${error.message}`; }
  }
  const backupNote = (result) => (result.backup ? `; the faces as they were are in ${result.backup}` : "");
  const applyModel = () => modelSelect.value || modelName();
  const apply = () => tool("xseg-apply", { side, name: applyModel() },
    (r) => `applied model/${applyModel()} to ${r.changed} ${side} faces${backupNote(r)}`);
  const remove = () => tool("xseg-remove", { side }, (r) => `removed the applied mask of ${r.changed} ${side} faces${backupNote(r)}`);
  const fetchLabelled = () => tool("xseg-fetch", { side },
    (r) => `copied ${r.copied} labelled faces to ${r.output}${r.skipped ? ` (${r.skipped} already there)` : ""}`);

  for (const [i, f] of faces.entries()) list.append(h("div", { class: "xseg-row", onclick: () => open(i) }, `${f.labelled ? "●" : "○"} ${f.name}`));
  const button = (id, label, action, cls = "secondary") => h("button", { id, class: cls, onclick: action }, label);
  root.append(h("section", { class: "panel" },
    h("h2", {}, "XSeg masks ", h("a", { href: "#/xseg/src" }, "src"), " · ", h("a", { href: "#/xseg/dst" }, "dst")),
    faces.length ? h("div", { class: "xseg-layout" },
      h("div", { class: "xseg-editor" }, h("p", {}, title, " ", zoomInfo), canvas, status, warning),
      h("div", {},
        h("p", {}, button("xseg-prev", "◀ prev (A)", () => open(state.index - 1)), " ",
                   button("xseg-next", "next (D) ▶", () => open(state.index + 1)), " ",
                   button("xseg-next-unlabelled", "next unlabelled (N)", () => onKey({ key: "n", target: document.body, preventDefault() {} }))),
        h("p", {}, modeButton, " ", button("xseg-undo", "undo", undo), " ", button("xseg-redo", "redo", redo), " ",
                   button("xseg-delete-polygon", "delete polygon", deletePolygon), " ",
                   button("xseg-reset-view", "reset view", resetView), " ",
                   h("button", { id: "xseg-save", onclick: () => save() }, "save (Ctrl+S)")),
        h("p", {}, h("label", { for: "xseg-model" }, "Prediction "), modelSelect),
        predictionInfo,
        h("details", { class: "xseg-keys", open: true }, h("summary", {}, "Keys"),
          h("table", { id: "xseg-keys" }, KEYS.map(([keys, what]) => h("tr", {}, h("th", {}, keys), h("td", {}, what))))),
        list))
      : h("p", { class: "muted" }, `No aligned faces in ${side} yet.`)),
    h("section", { class: "panel", id: "xseg-jobs" },
      h("h2", {}, "Train and apply the XSeg model"),
      h("p", { class: "muted" }, "Training uses the labelled faces with their polygons and the others with their landmark hull; " +
        `apply stores the model's masks in every ${side} face (faces that had a mask are backed up first), remove drops them again, ` +
        "fetch copies the labelled faces to a folder beside the faceset."),
      trainForm.element,
      h("p", {}, button("xseg-train", "Train XSeg", train, ""), " ", progressBar, " ", progressText),
      h("p", {}, button("xseg-apply", `Apply to ${side}`, apply), " ", button("xseg-remove", `Remove from ${side}`, remove), " ",
                 button("xseg-fetch", `Fetch labelled ${side} faces`, fetchLabelled)),
      jobStatus, previewInfo, preview));
  setMode("include");
  if (faces.length) await open(0);
  const shown = await showModel(modelName());
  if (shown && shown.job && shown.job.state === "running") follow(shown.job.id, modelName());
  return () => {
    window.removeEventListener("keydown", onKey); window.removeEventListener("keyup", onKeyUp);
    window.removeEventListener("mousemove", onMouseMove); window.removeEventListener("mouseup", onMouseUp);
    for (const stop of stops) stop();
  };
}
