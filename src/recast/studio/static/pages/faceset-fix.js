// Manual fix (DeepFaceLab's manual extractor): the source frame on a canvas with the face box and its
// 68 landmarks. Drag a point to move it; drag inside the box to move the face, a corner to resize it;
// drag on empty frame to draw a new box, then "Find landmarks in box" (a short job runs dlib's
// predictor there). "Save" re-cuts the aligned face from the frame with the edited landmarks; the
// previous file is kept and "Undo fix" puts it back. Wheel zooms, "Zoom to face" frames the box.
import { followJob, getJSON, h, sendJSON, startJob } from "../api.js";
import { LANDMARK_LINES, drawOverlay, faceUrl } from "./faceset-draw.js";

const POINT_HIT = 8, CORNER_HIT = 10, MIN_BOX = 8;
const enc = encodeURIComponent;

function clampPoint([x, y], width, height) { return [Math.min(Math.max(x, 0), width), Math.min(Math.max(y, 0), height)]; }

export async function renderFix(root, side, { face, frame }) {
  let info = face ? await getJSON(`/api/faceset/${side}/face/${enc(face)}`) : null;
  const frameName = info ? info.source_filename : frame;
  const image = new Image();
  image.src = `/api/faceset/${side}/frame/${enc(frameName)}`;
  try { await image.decode(); } catch { throw new Error(`frame ${frameName} could not be loaded`); }
  const W = image.naturalWidth, H = image.naturalHeight;
  const copy = (points) => points && points.map((p) => [...p]);
  let original = { points: copy(info?.source_landmarks) ?? null, rect: info ? [...info.source_rect] : null };
  let points = copy(original.points), rect = original.rect && [...original.rect];
  let opened = copy(original.points);  // points are marked as moved against these (the face as first shown)

  const canvas = h("canvas", { id: "fix-canvas", class: "fs-fix-canvas" });
  const stage = h("div", { class: "fs-fix-stage" }, canvas);
  const message = h("p", { id: "fix-message", class: "muted" });
  const say = (text, bad = false) => { message.textContent = text; message.className = bad ? "bad" : "muted"; };
  const result = h("div", { id: "fix-result" });
  const view = { scale: 1, ox: 0, oy: 0 };
  let cssW = 0, cssH = 0;

  function fit(box = null) {
    const [x0, y0, x1, y1] = box ?? [0, 0, W, H];
    const bw = x1 - x0, bh = y1 - y0;
    view.scale = Math.min(cssW / bw, cssH / bh);
    view.ox = (cssW - bw * view.scale) / 2 - x0 * view.scale;
    view.oy = (cssH - bh * view.scale) / 2 - y0 * view.scale;
    draw();
  }

  function sizeCanvas() {
    cssW = Math.max(320, stage.clientWidth);
    cssH = Math.max(320, Math.min(window.innerHeight * 0.72, cssW * H / W));
    canvas.style.width = `${cssW}px`; canvas.style.height = `${cssH}px`;
    canvas.width = Math.round(cssW * devicePixelRatio); canvas.height = Math.round(cssH * devicePixelRatio);
  }

  function draw() {
    const ctx = canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#0b0c0f"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    const k = devicePixelRatio;
    ctx.setTransform(k * view.scale, 0, 0, k * view.scale, k * view.ox, k * view.oy);
    ctx.drawImage(image, 0, 0);
    const px = 1 / view.scale;  // one CSS pixel in frame units
    if (rect) {
      const [l, t, r, b] = rect;
      ctx.setLineDash([6 * px, 4 * px]); ctx.lineWidth = 1.5 * px; ctx.strokeStyle = "#4f9cf9";
      ctx.strokeRect(l, t, r - l, b - t); ctx.setLineDash([]);
      ctx.fillStyle = "#4f9cf9";
      for (const [x, y] of [[l, t], [r, t], [r, b], [l, b]]) ctx.fillRect(x - 4 * px, y - 4 * px, 8 * px, 8 * px);
    }
    if (points) {
      ctx.lineWidth = 1.2 * px; ctx.strokeStyle = "rgba(92, 201, 138, 0.9)";
      for (const [from, to, closed] of LANDMARK_LINES) {
        ctx.beginPath();
        for (let i = from; i <= to; i++) i === from ? ctx.moveTo(...points[i]) : ctx.lineTo(...points[i]);
        if (closed) ctx.closePath();
        ctx.stroke();
      }
      points.forEach(([x, y], i) => {
        const o = opened?.[i];
        const moved = o && Math.hypot(o[0] - x, o[1] - y) > 0.5;
        ctx.fillStyle = i === drag?.index ? "#ffffff" : moved ? "#ff9f43" : "#ffd84d";
        ctx.beginPath(); ctx.arc(x, y, 3 * px, 0, 2 * Math.PI); ctx.fill();
      });
    }
    canvas.dataset.view = JSON.stringify({ scale: view.scale, ox: view.ox, oy: view.oy });
    updateButtons();
  }

  const toFrame = (event) => {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left - view.ox) / view.scale, (event.clientY - box.top - view.oy) / view.scale];
  };

  let drag = null;
  function hit(p) {
    const near = (q, radius) => Math.hypot(q[0] - p[0], q[1] - p[1]) * view.scale <= radius;
    if (points) {
      let best = -1, bestD = Infinity;
      points.forEach((q, i) => { const d = Math.hypot(q[0] - p[0], q[1] - p[1]); if (d < bestD) { bestD = d; best = i; } });
      if (bestD * view.scale <= POINT_HIT) return { kind: "point", index: best };
    }
    if (rect) {
      const [l, t, r, b] = rect;
      const corners = [[l, t, r, b], [r, t, l, b], [r, b, l, t], [l, b, r, t]];  // corner, then the fixed opposite one
      for (const [x, y, ax, ay] of corners) if (near([x, y], CORNER_HIT)) return { kind: "corner", anchor: [ax, ay] };
      if (p[0] > l && p[0] < r && p[1] > t && p[1] < b) return { kind: "move" };
    }
    return { kind: "draw" };
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    const p = toFrame(event);
    drag = { ...hit(p), start: p, rect: rect && [...rect], points: copy(points) };
    if (drag.kind === "draw") { rect = [p[0], p[1], p[0], p[1]]; points = null; }
    canvas.setPointerCapture(event.pointerId);
    draw();
  });
  canvas.addEventListener("pointermove", (event) => {
    const p = toFrame(event);
    if (!drag) {
      const kind = hit(p).kind;
      canvas.style.cursor = { point: "grab", corner: "nwse-resize", move: "move", draw: "crosshair" }[kind];
      return;
    }
    const [x, y] = clampPoint(p, W, H);
    if (drag.kind === "point") points[drag.index] = [x, y];
    else if (drag.kind === "move") {
      const [l, t, r, b] = drag.rect;
      const dx = Math.min(Math.max(x - drag.start[0], -l), W - r), dy = Math.min(Math.max(y - drag.start[1], -t), H - b);
      rect = [l + dx, t + dy, r + dx, b + dy];
      if (drag.points) points = drag.points.map(([px, py]) => [px + dx, py + dy]);
    } else if (drag.kind === "corner") {
      const [ax, ay] = drag.anchor, [l, t, r, b] = drag.rect;
      const cx = ax === l ? Math.max(x, ax + MIN_BOX) : Math.min(x, ax - MIN_BOX);
      const cy = ay === t ? Math.max(y, ay + MIN_BOX) : Math.min(y, ay - MIN_BOX);
      rect = [Math.min(cx, ax), Math.min(cy, ay), Math.max(cx, ax), Math.max(cy, ay)];
      const sx = (rect[2] - rect[0]) / (r - l), sy = (rect[3] - rect[1]) / (b - t);
      if (drag.points) points = drag.points.map(([px, py]) => clampPoint([rect[0] + (px - l) * sx, rect[1] + (py - t) * sy], W, H));
    } else {
      const [sx, sy] = drag.start;
      rect = [Math.min(sx, x), Math.min(sy, y), Math.max(sx, x), Math.max(sy, y)];
    }
    draw();
  });
  const endDrag = () => {
    if (drag?.kind === "draw" && rect && (rect[2] - rect[0] < MIN_BOX || rect[3] - rect[1] < MIN_BOX)) {
      rect = drag.rect; points = drag.points;
    }
    drag = null;
    draw();
  };
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);
  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    const box = canvas.getBoundingClientRect();
    const cx = event.clientX - box.left, cy = event.clientY - box.top;
    const factor = Math.exp(-event.deltaY * 0.0015);
    const scale = Math.min(Math.max(view.scale * factor, 0.05), 20);
    view.ox = cx - (cx - view.ox) * scale / view.scale; view.oy = cy - (cy - view.oy) * scale / view.scale;
    view.scale = scale;
    draw();
  }, { passive: false });

  let busy = false;
  const findButton = h("button", { id: "fix-find", class: "secondary", onclick: () => findLandmarks() }, "Find landmarks in box");
  const saveButton = h("button", { id: "fix-save", onclick: () => save() }, "Save re-aligned face");
  const resetButton = h("button", { id: "fix-reset", class: "secondary", onclick: () => { points = copy(original.points); rect = original.rect && [...original.rect]; say("Back to the stored landmarks."); draw(); } }, "Reset");
  const zoomButton = h("button", { id: "fix-zoom", class: "secondary", onclick: () => {
    if (!rect) return fit();
    const [l, t, r, b] = rect, m = Math.max(r - l, b - t) * 0.15;
    fit([Math.max(0, l - m), Math.max(0, t - m), Math.min(W, r + m), Math.min(H, b + m)]);
  } }, "Zoom to face");
  const fitButton = h("button", { id: "fix-fit", class: "secondary", onclick: () => fit() }, "Whole frame");
  const undoButton = h("button", { id: "fix-undo", class: "secondary", onclick: () => undo() }, "Undo fix");
  function updateButtons() {
    findButton.disabled = busy || !rect;
    saveButton.disabled = busy || !points || !rect;
    undoButton.hidden = !info?.fix?.backup;
    undoButton.disabled = busy;
  }

  async function findLandmarks() {
    busy = true; updateButtons();
    say("Finding landmarks in the box (dlib's 68-point predictor)…");
    try {
      const job = await startJob("faceset-landmarks", { side, frame: frameName, rect: rect.map((v) => Math.round(v * 100) / 100) });
      followJob(job.id, (event) => {
        if (event.type === "done") { points = event.result.landmarks; busy = false; say("Landmarks found: adjust them, then save."); draw(); }
        if (event.type === "failed" || event.type === "cancelled") { busy = false; say(`landmarks: ${event.message ?? event.type}`, true); updateButtons(); }
      });
    } catch (error) { busy = false; say(error.message, true); updateButtons(); }
  }

  function showFace(details, note) {
    const px = 192;
    const overlay = h("canvas", { width: px * devicePixelRatio, height: px * devicePixelRatio, class: "fs-overlay" });
    overlay.style.width = overlay.style.height = `${px}px`;
    const ctx = overlay.getContext("2d");
    ctx.setTransform(devicePixelRatio, 0, 0, devicePixelRatio, 0, 0);
    drawOverlay(ctx, details, px);
    result.replaceChildren(h("h3", {}, note),
      h("div", { class: "fs-big", style: `width:${px}px;height:${px}px` },
        h("img", { src: faceUrl(side, "image", details.name, "faces", details.key), width: px, height: px, alt: details.name, id: "fix-aligned" }), overlay),
      h("p", { class: "muted" }, details.fix ? `fixed ${details.fix.time}${details.fix.backup ? `; previous version in ${details.fix.backup}` : ""}` : "as extracted"));
  }

  async function save() {
    busy = true; updateButtons();
    const moved = original.points ? points.map((p, i) => Math.hypot(p[0] - original.points[i][0], p[1] - original.points[i][1])) : [];
    const shifted = moved.filter((d) => d > 0.5);
    try {
      const answer = await sendJSON(`/api/faceset/${side}/fix`, { name: info?.name ?? null, frame: frameName, landmarks: points, rect });
      info = answer.face;
      original = { points: copy(info.source_landmarks), rect: [...info.source_rect] };
      history.replaceState(null, "", `#/faceset/${side}/fix/${enc(info.name)}`);
      heading.textContent = `Manual fix — ${info.name}`;
      say(`Saved ${info.name}${shifted.length ? ` (${shifted.length} landmark${shifted.length === 1 ? "" : "s"} moved, mean ${(shifted.reduce((a, b) => a + b, 0) / shifted.length).toFixed(1)} px)` : ""}.`);
      showFace(info, "Re-aligned face");
    } catch (error) { say(error.message, true); }
    busy = false; draw();
  }

  async function undo() {
    busy = true; updateButtons();
    try {
      const answer = await sendJSON(`/api/faceset/${side}/unfix`, { name: info.name });
      info = answer.face;
      original = { points: copy(info.source_landmarks), rect: [...info.source_rect] };
      points = copy(original.points); rect = [...original.rect]; opened = copy(points);
      say(`Undone: ${info.name} is back to its previous version.`);
      showFace(info, "Restored face");
    } catch (error) { say(error.message, true); }
    busy = false; draw();
  }

  const heading = h("h2", {}, info ? `Manual fix — ${info.name}` : `Add a face — frame ${frameName}`);
  root.append(
    h("p", {}, h("a", { href: `#/faceset/${side}`, id: "fix-back" }, `← ${side} faceset`)),
    h("div", { class: "fs-fix" },
      h("section", { class: "panel fs-fix-main" }, heading,
        h("p", { class: "muted" }, `Frame ${frameName} (${W}×${H}). Drag a point to move it; drag inside the box to move the face, a corner to resize it; drag on empty frame to draw a new box. Wheel zooms.`),
        stage),
      h("section", { class: "panel fs-fix-side" },
        h("p", { class: "fs-buttons" }, zoomButton, fitButton, resetButton),
        h("p", { class: "fs-buttons" }, findButton, saveButton, undoButton),
        message, result)));
  sizeCanvas();
  if (rect) zoomButton.click(); else fit();
  if (info) showFace(info, "Current face");
  else say("No face here yet: draw a box around the face, then find its landmarks.");
  const onResize = () => { sizeCanvas(); fit(); };
  window.addEventListener("resize", onResize);
  return () => window.removeEventListener("resize", onResize);
}
