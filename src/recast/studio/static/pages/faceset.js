// Faceset browser (#/faceset/<src|dst>) and manual fix (#/faceset/<side>/fix/<face> or /frame/<frame>).
// The grid is virtual: only the rows in view are in the DOM; thumbnails come from the server's disk
// cache with immutable URLs (the face's key is in the URL), so scrolling back costs nothing.
import { ApiError, followJob, getJSON, h, sendJSON, startJob } from "../api.js";
import { drawOverlay, faceUrl } from "./faceset-draw.js";
import { renderFix } from "./faceset-fix.js";
import { progressView } from "./jobs.js";

const CELL_W = 140, CELL_H = 156, THUMB = 128;

function ensureStyles() {
  if (document.getElementById("faceset-css")) return;
  document.head.append(h("link", { id: "faceset-css", rel: "stylesheet", href: "/static/faceset.css" }));
}

function overlayCanvas(px) {
  const canvas = h("canvas", { class: "fs-overlay", width: px * devicePixelRatio, height: px * devicePixelRatio });
  canvas.style.width = canvas.style.height = `${px}px`;
  return canvas;
}

function paintOverlay(canvas, overlay, px) {
  const ctx = canvas.getContext("2d");
  ctx.setTransform(devicePixelRatio, 0, 0, devicePixelRatio, 0, 0);
  ctx.clearRect(0, 0, px, px);
  if (overlay) drawOverlay(ctx, overlay, px);
}

// The virtual grid: cells exist only for rows in view (plus a margin).
class FaceGrid {
  constructor(container, { onSelect, onOpen, overlayFor }) {
    this.container = container;
    this.spacer = h("div", { class: "fs-spacer" });
    container.append(this.spacer);
    this.faces = []; this.side = "src"; this.bin = "faces";
    this.cells = new Map(); this.selected = new Set(); this.anchor = -1;
    this.showOverlay = false; this.onSelect = onSelect; this.onOpen = onOpen; this.overlayFor = overlayFor;
    this.frame = 0;
    this.scheduled = () => { if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.layout(); }); };
    container.addEventListener("scroll", this.scheduled, { passive: true });
    this.resizeObserver = new ResizeObserver(() => { this.cols = 0; this.scheduled(); });
    this.resizeObserver.observe(container);
  }

  setFaces(faces, side, bin) {
    const changed = side !== this.side || bin !== this.bin;
    this.faces = faces; this.side = side; this.bin = bin;
    this.index = new Map(faces.map(([name], i) => [name, i]));
    for (const name of [...this.selected]) if (!this.index.has(name)) this.selected.delete(name);
    for (const cell of this.cells.values()) cell.remove();
    this.cells.clear(); this.cols = 0;
    if (changed) this.container.scrollTop = 0;
    this.layout();
  }

  layout() {
    const width = this.container.clientWidth;
    this.cols = Math.max(1, Math.floor(width / CELL_W));
    const rows = Math.ceil(this.faces.length / this.cols);
    this.spacer.style.height = `${rows * CELL_H}px`;
    const top = this.container.scrollTop, height = this.container.clientHeight;
    const first = Math.max(0, Math.floor(top / CELL_H) - 1), last = Math.min(rows - 1, Math.ceil((top + height) / CELL_H) + 1);
    const wanted = new Set();
    for (let row = first; row <= last; row++) {
      for (let col = 0; col < this.cols; col++) {
        const i = row * this.cols + col;
        if (i >= this.faces.length) break;
        wanted.add(i);
      }
    }
    for (const [i, cell] of this.cells) if (!wanted.has(i)) { cell.remove(); this.cells.delete(i); }
    const fresh = [];
    for (const i of wanted) {
      let cell = this.cells.get(i);
      if (!cell) { cell = this.makeCell(i); this.cells.set(i, cell); this.spacer.append(cell); fresh.push(cell); }
      cell.style.transform = `translate(${(i % this.cols) * CELL_W}px, ${Math.floor(i / this.cols) * CELL_H}px)`;
    }
    if (this.showOverlay && fresh.length) this.overlayFor(fresh.map((cell) => cell.dataset.name));
  }

  makeCell(i) {
    const [name, key] = this.faces[i];
    const cell = h("div", { class: "fs-cell", dataset: { name, index: i }, title: name },
      h("img", { src: faceUrl(this.side, "thumb", name, this.bin, key), width: THUMB, height: THUMB, alt: name, decoding: "async", draggable: "false" }),
      h("span", { class: "fs-name" }, name));
    cell.classList.toggle("selected", this.selected.has(name));
    cell.addEventListener("click", (event) => this.click(i, event));
    cell.addEventListener("dblclick", () => this.onOpen(name));
    return cell;
  }

  click(i, event) {
    const name = this.faces[i][0];
    if (event.shiftKey && this.anchor >= 0) {
      if (!(event.ctrlKey || event.metaKey)) this.selected.clear();
      const [a, b] = [Math.min(this.anchor, i), Math.max(this.anchor, i)];
      for (let k = a; k <= b; k++) this.selected.add(this.faces[k][0]);
    } else if (event.ctrlKey || event.metaKey) {
      if (this.selected.has(name)) this.selected.delete(name); else this.selected.add(name);
      this.anchor = i;
    } else {
      this.selected = new Set([name]); this.anchor = i;
    }
    this.refreshSelection();
    this.onSelect(name);
  }

  refreshSelection() {
    for (const cell of this.cells.values()) cell.classList.toggle("selected", this.selected.has(cell.dataset.name));
  }

  paintOverlays(overlays) {
    for (const cell of this.cells.values()) {
      let canvas = cell.querySelector("canvas");
      if (!this.showOverlay) { canvas?.remove(); continue; }
      const overlay = overlays.get(cell.dataset.name);
      if (!overlay) continue;
      if (!canvas) { canvas = overlayCanvas(THUMB); cell.insertBefore(canvas, cell.querySelector(".fs-name")); }
      paintOverlay(canvas, overlay, THUMB);
    }
  }

  visibleNames() { return [...this.cells.values()].map((cell) => cell.dataset.name); }

  destroy() {
    this.container.removeEventListener("scroll", this.scheduled);
    this.resizeObserver.disconnect();
    if (this.frame) cancelAnimationFrame(this.frame);
  }
}

function detailPanel(side, bin, info) {
  const px = 256;
  const canvas = overlayCanvas(px);
  const show = h("input", { type: "checkbox", id: "detail-overlay", checked: true });
  const paint = () => paintOverlay(canvas, show.checked ? info : null, px);
  show.addEventListener("change", paint);
  paint();
  const [pitch, yaw, roll] = info.pose_degrees;
  const rows = [
    ["File", info.name], ["Face type", `${info.face_type}, ${info.size} px`],
    ["Source frame", `${info.source_filename} (${info.source_size.join("×")})${info.frame_available ? "" : " — not in the workspace"}`],
    ["Detector", `${info.detector || "?"} (score ${info.detector_score})`],
    ["Pose", `yaw ${yaw}°, pitch ${pitch}°, roll ${roll}°`], ["Mask", info.mask_kind],
    ["Manual fix", info.fix ? `${info.fix.time}${info.fix.backup ? `, previous in ${info.fix.backup}` : ""}` : "—"],
  ];
  const fixLink = info.frame_available && bin === "faces"
    ? h("a", { class: "button", id: "open-frame", href: `#/faceset/${side}/fix/${encodeURIComponent(info.name)}` }, "Open source frame · manual fix")
    : h("span", { class: "muted" }, bin === "trash" ? "restore the face to fix it" : "source frame not in the workspace");
  return h("section", { class: "panel fs-detail", id: "face-detail" },
    h("h2", {}, info.name),
    h("div", { class: "fs-big" }, h("img", { src: faceUrl(side, "image", info.name, bin, info.key), width: px, height: px, alt: info.name }), canvas),
    h("label", {}, show, " landmarks and mask"),
    h("table", { class: "fs-meta" }, rows.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v)))),
    h("p", {}, fixLink));
}

const COVERAGE_FEATURES = { yaw: ["yaw", "°"], pitch: ["pitch", "°"], mouth: ["mouth openness", ""], eyes: ["eye openness", ""] };

// The coverage panel: does the src faceset hold a face close to every dst face (angles, mouth, eyes)?
function coveragePanel(report) {
  const pct = (x) => `${Math.round(100 * x)} %`;
  const number = (value, digits) => value.toFixed(digits).replace(/^-(0\.?0*)$/, "$1");  // never "-0"
  const range = (p, unit) => `${number(p[0], unit ? 0 : 2)} … ${number(p[2], unit ? 0 : 2)}${unit}`;
  const rows = Object.entries(report.features).map(([name, f]) => {
    const [label, unit] = COVERAGE_FEATURES[name] ?? [name, ""];
    return h("tr", { class: name === report.weakest ? "weakest" : "" },
      h("th", {}, label), h("td", {}, range(f.src_p5_p50_p95, unit)), h("td", {}, range(f.dst_p5_p50_p95, unit)),
      h("td", {}, pct(f.covered)));
  });
  const links = report.uncovered.map((u) => h("a", { href: `#/faceset/dst/fix/${encodeURIComponent(u.name)}`, class: "fs-frame-link",
                                                   title: `nearest src face ${u.nearest_src}; furthest apart on ${u.feature}` }, `${u.frame ?? u.name} (${u.feature})`));
  const more = report.uncovered_count - report.uncovered.length;
  return [
    h("summary", { class: report.poor ? "bad" : "" }, `Coverage: ${report.summary}${report.poor ? " — poor: add src faces like the uncovered ones" : ""}`),
    h("table", { class: "fs-meta fs-coverage-table" },
      h("tr", {}, h("th", {}, ""), h("th", {}, "src 5–95 %"), h("th", {}, "dst 5–95 %"), h("th", {}, "dst covered")), ...rows),
    report.mouth_mismatch ? h("p", { id: "fs-mouth", class: "bad" }, `Mouth: ${report.mouth_mismatch}`) : null,
    links.length ? h("p", { id: "fs-uncovered" }, "Uncovered dst faces (frame, the feature that keeps them apart): ", ...links, more > 0 ? ` and ${more} more` : "")
                 : h("p", { class: "muted" }, "Every dst face has a close src face.")].filter(Boolean);
}

async function renderGrid(root, side, bin) {
  const methods = [];  // filled in once /api/faceset/methods answers (not on the grid's critical path)
  const status = h("span", { id: "fs-status", class: "muted" });
  const say = (text, bad = false) => { status.textContent = text; status.className = bad ? "bad" : "muted"; };
  const container = h("div", { class: "fs-grid", id: "face-grid", tabindex: "0" });
  const hint = () => h("section", { class: "panel muted" }, "Click a face to see it here; ctrl-click and shift-click select several.");
  const detail = h("div", { class: "fs-side" }, hint());
  let detailName = null;  // the face the detail panel shows: re-read after a sort, trash or restore
  const overlays = new Map();
  let pending = new Set(), timer = 0;
  const fetchOverlays = (names) => {
    for (const name of names) if (!overlays.has(name)) pending.add(name);
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const names = [...pending].slice(0, 400); pending = new Set();
      if (names.length) {
        const answer = await sendJSON(`/api/faceset/${side}/overlays`, { names, bin });
        for (const [name, overlay] of Object.entries(answer.overlays)) overlays.set(name, overlay);
      }
      grid.paintOverlays(overlays);
    }, 60);
  };
  const openDetail = async (name) => {
    detailName = name;
    try {
      detail.replaceChildren(detailPanel(side, bin, await getJSON(`/api/faceset/${side}/face/${encodeURIComponent(name)}?bin=${bin}`)));
    } catch (error) { detail.replaceChildren(h("p", { class: "bad" }, error.message)); }
  };
  const grid = new FaceGrid(container, { onSelect: (name) => { updateActions(); openDetail(name); },
                                         onOpen: (name) => { if (bin === "faces") location.hash = `#/faceset/${side}/fix/${encodeURIComponent(name)}`; },
                                         overlayFor: fetchOverlays });

  const counts = h("span", { class: "fs-tabs" });
  const selection = h("span", { id: "fs-selection" });
  const action = h("button", { id: bin === "faces" ? "trash-selected" : "restore-selected", disabled: true,
                               onclick: () => moveSelected() }, bin === "faces" ? "Move to trash" : "Restore");
  const updateActions = () => {
    const n = grid.selected.size;
    selection.textContent = n ? `${n} selected` : "";
    action.disabled = n === 0;
  };

  async function load() {
    const listing = await getJSON(`/api/faceset/${side}?bin=${bin}`);
    overlays.clear();
    grid.setFaces(listing.faces, side, bin);
    counts.replaceChildren(
      h("a", { href: `#/faceset/${side}`, class: bin === "faces" ? "active" : "", id: "tab-faces" }, `Faces (${listing.counts.faces})`),
      h("a", { href: `#/faceset/${side}/trash`, class: bin === "trash" ? "active" : "", id: "tab-trash" }, `Trash (${listing.counts.trash})`));
    root.dataset.count = String(listing.faces.length);
    if (detailName !== null && grid.index.has(detailName)) openDetail(detailName);
    else { detailName = null; detail.replaceChildren(hint()); }
    if (!listing.faces.length) say(bin === "trash" ? "The trash is empty." : listing.packed ? "This faceset is packed (faceset.rfs): unpack it to browse." : `No faces in ${listing.folder}.`);
    updateActions();
    return listing;
  }

  async function moveSelected() {
    const names = [...grid.selected];
    action.disabled = true;
    try {
      if (bin === "faces") {
        const answer = await sendJSON(`/api/faceset/${side}/trash`, { names });
        say(`Moved ${answer.trashed.length} face${answer.trashed.length === 1 ? "" : "s"} to the trash (nothing is deleted; restore from the Trash tab).`);
      } else {
        const answer = await sendJSON(`/api/faceset/${side}/restore`, { names });
        say(`Restored ${answer.restored.join(", ")}.`);
      }
      grid.selected.clear();
      await load();
    } catch (error) { say(error.message, true); updateActions(); }
  }

  const method = h("select", { id: "sort-method" });
  const target = h("input", { id: "sort-target", type: "number", min: 1, value: 2000, title: "best / best-fast: faces to keep" });
  const methodHelp = h("span", { class: "muted fs-help" });
  const syncMethod = () => {
    methodHelp.textContent = methods.find((m) => m.name === method.value)?.summary ?? "";
    target.hidden = !method.value.startsWith("best");
  };
  method.addEventListener("change", syncMethod);
  syncMethod();
  getJSON("/api/faceset/methods").then((list) => {
    methods.push(...list);
    method.replaceChildren(...list.map((m) => h("option", { value: m.name, title: m.summary }, m.name)));
    syncMethod();
  }).catch((error) => say(error.message, true));
  const runJob = async (task, options, label) => {
    try {
      const job = await startJob(task, options);
      say(`${label}: started (job #${job.id})`);
      const [bar, feed, finish] = progressView(job);
      jobBar.replaceChildren(bar);
      followJob(job.id, (event) => {
        feed(event);
        if (["done", "failed", "cancelled"].includes(event.type)) finish(event.type);
        if (event.type === "progress") say(`${label}: ${event.message ?? (event.total ? `${event.done}/${event.total} faces scored` : "")}`);
        if (event.type === "done") { say(`${label}: done · ${Object.entries(event.result ?? {}).map(([k, v]) => `${k.replaceAll("_", " ")} ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · ")}`); load(); }
        if (event.type === "failed" || event.type === "cancelled") say(`${label}: ${event.type}: ${event.message ?? ""}`, true);
      });
    } catch (error) { say(error.message, true); }
  };
  const sortButton = h("button", { id: "sort-start", onclick: () => {
    const options = { side, method: method.value };
    if (method.value.startsWith("best")) options.target = Number(target.value);
    runJob("sort", options, `sort by ${method.value}`);
  } }, "Sort (renames files)");
  const undoSort = h("button", { class: "secondary", id: "sort-undo", title: "recast sort --restore: original names back, trash emptied back into the set",
                                 onclick: () => runJob("sort", { side, restore: true }, "undo sorts") }, "Undo all sorts");
  const overlayToggle = h("input", { type: "checkbox", id: "overlay-toggle" });
  overlayToggle.addEventListener("change", () => {
    grid.showOverlay = overlayToggle.checked;
    if (grid.showOverlay) fetchOverlays(grid.visibleNames()); else grid.paintOverlays(overlays);
  });
  const missing = h("span", { id: "fs-missing" });
  const jobBar = h("span", { id: "fs-job-progress" });
  const coverage = h("details", { class: "panel fs-coverage", id: "fs-coverage" }, h("summary", { class: "muted" }, "Coverage: measuring…"));

  root.append(
    h("section", { class: "panel fs-toolbar" },
      h("span", { class: "fs-tabs" },
        ...["src", "dst"].map((s) => h("a", { href: `#/faceset/${s}`, class: s === side ? "active" : "", id: `side-${s}` }, s === "src" ? "Source (src)" : "Destination (dst)"))),
      counts,
      h("label", {}, overlayToggle, " landmarks & mask"),
      h("span", { class: "fs-group" }, h("label", { for: "sort-method" }, "Sort by "), method, target, sortButton, undoSort),
      h("span", { class: "fs-group" }, selection, action),
      methodHelp),
    h("p", { class: "fs-statusline" }, status, " ", jobBar, " ", missing),
    coverage,
    h("div", { class: "fs-body" }, container, detail));
  const listing = await load();
  getJSON("/api/faceset/coverage").then((report) => coverage.replaceChildren(...coveragePanel(report)))
    .catch((error) => coverage.replaceChildren(h("summary", { class: "muted" }, `Coverage: ${error.message}`)));
  if (bin === "faces") {
    getJSON(`/api/faceset/${side}/frames`).then((frames) => {
      if (!frames.without_face.length) return;
      missing.replaceChildren(`${frames.without_face.length} frame(s) without a face: `,
        ...frames.without_face.slice(0, 12).map((f) => h("a", { href: `#/faceset/${side}/frame/${encodeURIComponent(f)}`, class: "fs-frame-link" }, f)));
    }).catch(() => {});
  }
  const onKey = (event) => {
    if (event.target.closest("input, select, textarea")) return;
    if ((event.key === "Delete" || event.key === "Backspace") && bin === "faces" && grid.selected.size) moveSelected();
    if (event.key === "Escape") { grid.selected.clear(); grid.refreshSelection(); updateActions(); }
  };
  document.addEventListener("keydown", onKey);
  if (!listing.faces.length) container.append(h("p", { class: "muted fs-empty" }, status.textContent));
  return () => { grid.destroy(); document.removeEventListener("keydown", onKey); clearTimeout(timer); };
}

export async function render(root, { params }) {
  ensureStyles();
  const [side = "src", view, name] = params;
  if (!["src", "dst"].includes(side)) throw new ApiError(404, `no faceset ${side}: choose src or dst`);
  if (view === "fix" || view === "frame") return renderFix(root, side, view === "fix" ? { face: name } : { frame: name });
  return renderGrid(root, side, view === "trash" ? "trash" : "faces");
}
