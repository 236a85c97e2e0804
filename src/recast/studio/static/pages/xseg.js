// XSeg editor: draw include/exclude polygons on aligned faces, see the mask model's prediction,
// undo/redo, save into the face's metadata. Keys: click adds a point, Enter closes the polygon,
// Esc drops it, Backspace removes its last point, I/E include/exclude, Ctrl+Z / Ctrl+Y undo/redo,
// Ctrl+S save, ,/. previous/next face, N next unlabelled face. Drag a point to move it.
import { ApiError, getJSON, h } from "../api.js";

const VIEW = 512;          // canvas side in CSS pixels
const GRAB = 8;            // pixels within which a click grabs a point

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

export async function render(root, { params }) {
  const side = params[0] === "src" ? "src" : "dst";
  const [faces, models] = await Promise.all([getJSON(`/api/xseg/${side}/faces`), getJSON("/api/xseg/models")]);
  const state = { index: 0, polygons: [], current: [], mode: "include", undo: [], redo: [], dirty: false,
                  image: null, prediction: null, drag: null, scale: 1 };

  const canvas = h("canvas", { id: "xseg-canvas", width: VIEW, height: VIEW, tabindex: 0,
                               style: "background:#000; cursor: crosshair; outline: none" });
  const ctx = canvas.getContext("2d");
  const title = h("span", { id: "xseg-face" });
  const status = h("p", { id: "xseg-status", class: "muted" });
  const modeButton = h("button", { id: "xseg-mode", class: "secondary", onclick: () => setMode(state.mode === "include" ? "exclude" : "include") });
  const modelSelect = h("select", { id: "xseg-model", onchange: () => loadPrediction().then(draw) },
                        h("option", { value: "" }, "(no prediction)"), models.map((m) => h("option", { value: m }, m)));
  const list = h("div", { id: "xseg-list", class: "xseg-list" });

  function snapshot() { return JSON.stringify(state.polygons); }
  function remember() { state.undo.push(snapshot()); state.redo = []; state.dirty = true; }
  function setMode(mode) { state.mode = mode; modeButton.textContent = `mode: ${mode} (I/E)`; draw(); }
  function face() { return faces[state.index]; }

  function draw() {
    ctx.clearRect(0, 0, VIEW, VIEW);
    if (!state.image) return;
    ctx.drawImage(state.image, 0, 0, VIEW, VIEW);
    if (state.prediction) {
      ctx.save(); ctx.globalAlpha = 0.35; ctx.globalCompositeOperation = "screen";
      ctx.drawImage(state.prediction, 0, 0, VIEW, VIEW); ctx.restore();
    }
    const shape = (points, type, closed) => {
      if (!points.length) return;
      ctx.beginPath();
      points.forEach(([x, y], i) => (i ? ctx.lineTo(x * state.scale, y * state.scale) : ctx.moveTo(x * state.scale, y * state.scale)));
      if (closed) ctx.closePath();
      const colour = type === "include" ? "92, 201, 138" : "242, 109, 109";
      if (closed) { ctx.fillStyle = `rgba(${colour}, 0.25)`; ctx.fill(); }
      ctx.strokeStyle = `rgb(${colour})`; ctx.lineWidth = 2; ctx.stroke();
      ctx.fillStyle = `rgb(${colour})`;
      for (const [x, y] of points) ctx.fillRect(x * state.scale - 3, y * state.scale - 3, 6, 6);
    };
    state.polygons.forEach((p) => shape(p.points, p.type, true));
    shape(state.current, state.mode, false);
    const f = face();
    title.textContent = `${side}/${f.name} (${state.index + 1}/${faces.length})`;
    status.textContent = `${state.polygons.length} polygon(s)${state.dirty ? " · unsaved" : " · saved"}` +
      (state.current.length ? ` · drawing ${state.current.length} point(s): Enter closes` : "");
    for (const [i, row] of [...list.children].entries()) row.classList.toggle("active", i === state.index);
  }

  async function loadPrediction() {
    state.prediction = null;
    if (!modelSelect.value) return;
    state.prediction = await loadImage(`/api/xseg/${side}/faces/${encodeURIComponent(face().name)}/prediction?model=${encodeURIComponent(modelSelect.value)}&t=${Date.now()}`);
  }

  async function open(index) {
    if (state.dirty) await save();
    state.index = Math.max(0, Math.min(faces.length - 1, index));
    const name = encodeURIComponent(face().name);
    const [image, labels] = await Promise.all([loadImage(`/api/xseg/${side}/faces/${name}/image`), getJSON(`/api/xseg/${side}/faces/${name}/labels`)]);
    Object.assign(state, { image, polygons: labels.polygons, current: [], undo: [], redo: [], dirty: false, scale: VIEW / image.naturalWidth });
    await loadPrediction();
    draw();
  }

  async function save() {
    if (!faces.length) return;
    try {
      await putJSON(`/api/xseg/${side}/faces/${encodeURIComponent(face().name)}/labels`, { polygons: state.polygons });
      state.dirty = false;
      face().labelled = state.polygons.length > 0;
      list.children[state.index].textContent = `${face().labelled ? "●" : "○"} ${face().name}`;
      draw();
    } catch (error) { status.textContent = `not saved: ${error.message}`; }
  }

  function closeCurrent() {
    if (state.current.length < 3) return;
    remember();
    state.polygons.push({ type: state.mode, points: state.current });
    state.current = [];
    draw();
  }

  function undo() {
    if (state.current.length) { state.current = []; draw(); return; }
    if (!state.undo.length) return;
    state.redo.push(snapshot()); state.polygons = JSON.parse(state.undo.pop()); state.dirty = true; draw();
  }
  function redo() {
    if (!state.redo.length) return;
    state.undo.push(snapshot()); state.polygons = JSON.parse(state.redo.pop()); state.dirty = true; draw();
  }

  function facePoint(event) {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) / state.scale, (event.clientY - box.top) / state.scale];
  }
  function grab([x, y]) {
    for (const polygon of state.polygons) {
      for (const point of polygon.points) {
        if (Math.hypot(point[0] - x, point[1] - y) * state.scale <= GRAB) return point;
      }
    }
    return null;
  }

  canvas.addEventListener("mousedown", (event) => {
    canvas.focus();
    const point = facePoint(event);
    const hit = state.current.length ? null : grab(point);
    if (hit) { remember(); state.drag = hit; return; }
    if (state.current.length >= 3 && Math.hypot(state.current[0][0] - point[0], state.current[0][1] - point[1]) * state.scale <= GRAB) {
      closeCurrent(); return;
    }
    state.current.push(point);
    draw();
  });
  canvas.addEventListener("mousemove", (event) => {
    if (!state.drag) return;
    const [x, y] = facePoint(event);
    state.drag[0] = x; state.drag[1] = y; draw();
  });
  const onMouseUp = () => { state.drag = null; };
  window.addEventListener("mouseup", onMouseUp);

  function onKey(event) {
    if (event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement) return;
    const key = event.key.toLowerCase();
    const ctrl = event.ctrlKey || event.metaKey;
    if (ctrl && key === "z" && !event.shiftKey) { undo(); event.preventDefault(); }
    else if (ctrl && (key === "y" || (key === "z" && event.shiftKey))) { redo(); event.preventDefault(); }
    else if (ctrl && key === "s") { save(); event.preventDefault(); }
    else if (key === "enter") closeCurrent();
    else if (key === "escape") { state.current = []; draw(); }
    else if (key === "backspace") { state.current.pop(); draw(); event.preventDefault(); }
    else if (key === "i") setMode("include");
    else if (key === "e") setMode("exclude");
    else if (key === ".") open(state.index + 1);
    else if (key === ",") open(state.index - 1);
    else if (key === "n") {
      const next = faces.findIndex((f, i) => i > state.index && !f.labelled);
      if (next >= 0) open(next);
    }
  }
  window.addEventListener("keydown", onKey);

  for (const [i, f] of faces.entries()) list.append(h("div", { class: "xseg-row", onclick: () => open(i) }, `${f.labelled ? "●" : "○"} ${f.name}`));
  const button = (id, label, action) => h("button", { id, class: "secondary", onclick: action }, label);
  root.append(h("section", { class: "panel" },
    h("h2", {}, "XSeg masks ", h("a", { href: "#/xseg/src" }, "src"), " · ", h("a", { href: "#/xseg/dst" }, "dst")),
    faces.length ? h("div", { class: "xseg-layout" },
      h("div", {}, h("p", {}, title), canvas, status),
      h("div", {},
        h("p", {}, button("xseg-prev", "◀ prev (,)", () => open(state.index - 1)), " ",
                   button("xseg-next", "next (.) ▶", () => open(state.index + 1)), " ",
                   button("xseg-next-unlabelled", "next unlabelled (N)", () => onKey({ key: "n", target: document.body, preventDefault() {} }))),
        h("p", {}, modeButton, " ", button("xseg-undo", "undo", undo), " ", button("xseg-redo", "redo", redo), " ",
                   h("button", { id: "xseg-save", onclick: save }, "save (Ctrl+S)")),
        h("p", {}, h("label", { for: "xseg-model" }, "Prediction "), modelSelect),
        h("p", { class: "muted" }, "Click to add points, Enter (or click the first point) closes the polygon, Esc drops it. " +
          "Include polygons add to the face, exclude polygons cut hands, hair or glasses out. Drag a point to move it."),
        list))
      : h("p", { class: "muted" }, `No aligned faces in ${side} yet.`)));
  setMode("include");
  if (faces.length) await open(0);
  return () => { window.removeEventListener("keydown", onKey); window.removeEventListener("mouseup", onMouseUp); };
}
