// Training: choose or create a named model (model/<name>), start / stop / resume it with its settings,
// for a target iteration or N minutes; the live preview grid with labelled columns and its history,
// "refresh preview now" (DeepFaceLab's P), the loss chart, iterations per second and the ETA to the
// target, and the model's backups with a roll back.
import { followJob, getJSON, h, sendJSON, startJob } from "../api.js";
import { optionsForm } from "../forms.js";

const SVG = "http://www.w3.org/2000/svg";
const COLOURS = { src: "#f0a04b", dst: "#4f9cf9" };

function svg(tag, attrs = {}) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) element.setAttribute(key, value);
  return element;
}

// Loss chart: raw values faint, a moving average on top; log scale when every value is positive.
function drawLoss(chart, loss) {
  const width = 640, height = 220, left = 48, bottom = 24, top = 10, right = 10;
  chart.replaceChildren();
  chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const xs = loss.iteration;
  if (!xs.length) {
    const note = svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "chart-note" });
    note.textContent = "no loss values yet";
    chart.append(note);
    return;
  }
  const values = [...loss.src, ...loss.dst].filter((v) => Number.isFinite(v));
  const log = values.every((v) => v > 0);
  const f = (v) => (log ? Math.log10(v) : v);
  let low = Math.min(...values.map(f)), high = Math.max(...values.map(f));
  if (high - low < 1e-9) { low -= 0.5; high += 0.5; }
  const x0 = xs[0], x1 = Math.max(xs[xs.length - 1], x0 + 1);
  const px = (x) => left + ((x - x0) / (x1 - x0)) * (width - left - right);
  const py = (v) => top + (1 - (f(v) - low) / (high - low)) * (height - top - bottom);
  chart.append(svg("line", { x1: left, y1: height - bottom, x2: width - right, y2: height - bottom, class: "axis" }),
               svg("line", { x1: left, y1: top, x2: left, y2: height - bottom, class: "axis" }));
  for (const [value, y] of [[high, top], [low, height - bottom]]) {
    const label = svg("text", { x: left - 4, y: y + 4, "text-anchor": "end", class: "chart-note" });
    label.textContent = (log ? 10 ** value : value).toPrecision(3);
    chart.append(label);
  }
  for (const [x, anchor] of [[x0, "start"], [x1, "end"]]) {
    const label = svg("text", { x: px(x), y: height - 6, "text-anchor": anchor, class: "chart-note" });
    label.textContent = String(x);
    chart.append(label);
  }
  for (const key of ["src", "dst"]) {
    const series = loss[key];
    if (!series.length) continue;
    const raw = series.map((v, i) => `${px(xs[i]).toFixed(1)},${py(v).toFixed(1)}`).join(" ");
    chart.append(svg("polyline", { points: raw, fill: "none", stroke: COLOURS[key], "stroke-opacity": 0.3 }));
    const window = Math.max(1, Math.floor(series.length / 50));
    const smooth = [];
    for (let i = window - 1; i < series.length; i++) {
      const mean = series.slice(i - window + 1, i + 1).reduce((a, b) => a + b, 0) / window;
      smooth.push(`${px(xs[i]).toFixed(1)},${py(mean).toFixed(1)}`);
    }
    chart.append(svg("polyline", { points: smooth.join(" "), fill: "none", stroke: COLOURS[key], "stroke-width": 2,
                                   class: `loss-${key}` }));
  }
  chart.dataset.points = String(xs.length);
}

function clock(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "—";
  const s = Math.round(seconds);
  return `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

function when(seconds) {
  return new Date(seconds * 1000).toLocaleString();
}

// The workspace's face models (preset, iteration) with a field to create a new one by name; returns the
// panel and show(models), which redraws the list (the field keeps what is typed).
function modelChooser(name) {
  const newName = h("input", { id: "new-model-name", placeholder: "new model name", pattern: "[A-Za-z0-9_.\\-]+", size: 16,
                               title: "letters, digits, _ . -" });
  const create = h("button", { id: "new-model", class: "secondary", type: "submit" }, "New model");
  const form = h("form", { class: "new-model" }, newName, " ", create);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = newName.value.trim();
    if (value && newName.checkValidity()) location.hash = `#/training/${encodeURIComponent(value)}`;
    else newName.reportValidity();
  });
  const list = h("div", { id: "models-chooser" });
  const show = (models) => list.replaceChildren(models.length
    ? h("table", { class: "model-list", id: "model-list" },
        h("tr", {}, h("th", {}, "model"), h("th", {}, "preset"), h("th", {}, "iteration"), h("th", {}, "")),
        models.map((m) => h("tr", { class: m.name === name ? "current" : "", "data-name": m.name },
          h("td", {}, h("a", { href: `#/training/${encodeURIComponent(m.name)}` }, m.name)),
          h("td", {}, m.error ? "unreadable" : (m.model ?? "—")), h("td", {}, m.error ? "—" : String(m.iteration)),
          h("td", { class: "muted" }, m.training ? "training" : ""))))
    : h("p", { class: "muted" }, "No model yet: name one and start training."));
  return [h("section", { class: "panel", id: "models-panel" }, h("h2", {}, "Models"), list, form), show];
}

export async function render(root, { params }) {
  const name = params[0] || "default";
  const registry = await getJSON("/api/models");
  const [chooser, showModels] = modelChooser(name);
  let info = await getJSON(`/api/training/${encodeURIComponent(name)}`);
  // The settings form shows the defaults of the chosen model (the registry's preset), not the base ones.
  const trainForm = (model) => getJSON(`/api/forms/train?model=${encodeURIComponent(model)}`);
  let stopFollowing = null;
  const loss = { iteration: [], src: [], dst: [] };
  const live = { iteration: info.iteration, msPerIter: null, losses: {}, target: info.job?.target ?? null, phase: "" };
  // The training recipe's phase (warp → regular → gan for dfl); a one-phase recipe shows none.
  const savedPhase = () => (info.recipe && info.recipe.name !== "none" ? info.recipe.phase : "");

  // Controls: model family (new model only), target, preview cadence, the model's settings.
  const family = h("select", { id: "train-family", disabled: info.exists },
                   registry.map((entry) => h("option", { value: entry.name, title: entry.description,
                                                         selected: entry.name === (info.model ?? "cpu") }, entry.name)));
  const target = h("input", { id: "train-target", type: "number", min: 1, value: Math.max(info.iteration + 1000, 1000),
                              placeholder: "(none)" });
  const minutes = h("input", { id: "train-minutes", type: "number", min: 0.01, step: "any", placeholder: "(no limit)" });
  const previewEvery = h("input", { id: "train-preview-every", type: "number", min: 0, placeholder: "(auto)" });
  const recipeOption = (await getJSON("/api/forms/train-run")).properties.recipe;  // choices and help: TrainOptions.recipe
  const recipe = h("select", { id: "train-recipe", title: recipeOption.description },
                   recipeOption.enum.map((value) => h("option", { value, selected: value === (info.recipe?.name ?? recipeOption.default) }, value)));
  let schema = await trainForm(info.model ?? family.value);
  let settings = optionsForm(schema, { initial: info.settings });
  for (const [key, input] of Object.entries(settings.inputs)) if (info.exists && schema.properties[key]["x-fixed"]) input.disabled = true;
  family.addEventListener("change", async () => {
    const changed = settings.values();  // what the user changed stays; the rest: the new model's defaults
    schema = await trainForm(family.value);
    const fresh = optionsForm(schema, { initial: changed });
    settings.element.replaceWith(fresh.element);
    settings = fresh;
  });
  const message = h("div", { class: "error-text", id: "train-message" });
  const savedNote = h("span", { class: "muted", id: "train-saved-note" });
  const showSaved = () => { savedNote.textContent = info.exists ? ` saved at iteration ${info.iteration}; training resumes it` : ""; };
  showSaved();
  const startButton = h("button", { id: "train-start" }, info.exists ? "Resume training" : "Start training");
  const stopButton = h("button", { id: "train-stop", class: "secondary", disabled: true }, "Stop (saves)");
  const refreshButton = h("button", { id: "train-refresh-preview", class: "secondary", disabled: true,
                                      title: "Write a preview at the next iteration (DeepFaceLab's P key)" }, "Refresh preview now");
  const backupList = h("div", { id: "backup-list" });
  const backupMessage = h("div", { class: "muted", id: "backup-message" });

  // Stats and preview.
  const stats = { iteration: h("b", { id: "stat-iteration" }), speed: h("b", { id: "stat-speed" }),
                  eta: h("b", { id: "stat-eta" }), losses: h("b", { id: "stat-losses" }), state: h("b", { id: "stat-state" }),
                  phase: h("b", { id: "stat-phase" }) };
  const columns = h("div", { class: "preview-columns", id: "preview-columns" },
                    info.columns.map((label) => h("span", {}, label)));
  const image = h("img", { id: "preview-image", alt: "training preview grid" });
  const noPreview = h("p", { class: "muted", id: "no-preview" }, "No preview yet: previews are written every “preview every” iterations.");
  const scrubber = h("input", { id: "history-scrubber", type: "range", min: 0, max: 0, value: 0, step: 1 });
  const scrubLabel = h("span", { id: "history-label", class: "muted" });
  const chart = svg("svg", { id: "loss-chart", class: "loss-chart", role: "img", "aria-label": "loss chart" });

  function showStats() {
    stats.iteration.textContent = String(live.iteration);
    stats.speed.textContent = live.msPerIter ? `${(1000 / live.msPerIter).toFixed(2)} it/s (${live.msPerIter.toFixed(0)} ms/it)` : "—";
    const left = live.target ? Math.max(live.target - live.iteration, 0) : null;
    const minutesRun = info.job?.state === "running" && info.job.minutes ? `${info.job.minutes} min run` : "no target";
    stats.eta.textContent = left === null ? minutesRun : (live.msPerIter ? `${clock(left * live.msPerIter / 1000)} to ${live.target}` : `${left} iterations to ${live.target}`);
    stats.phase.textContent = live.phase || "—";
    stats.losses.textContent = Object.entries(live.losses).map(([k, v]) => `${k} ${Number(v).toFixed(4)}`).join("  ") || "—";
    stats.state.textContent = info.job?.state === "running" ? `running (job #${info.job.id})` : (info.exists ? "stopped" : "no model yet");
    stats.state.className = info.job?.state === "running" ? "state-running" : "muted";
    startButton.disabled = info.job?.state === "running";
    stopButton.disabled = info.job?.state !== "running";
    refreshButton.disabled = info.job?.state !== "running";
    for (const button of backupList.querySelectorAll("button")) button.disabled = info.job?.state === "running";
  }

  function showPreview() {
    const history = info.history;
    const atEnd = Number(scrubber.value) >= Number(scrubber.max);
    scrubber.max = String(Math.max(history.length - 1, 0));
    scrubber.disabled = history.length < 2;
    if (atEnd) scrubber.value = scrubber.max;
    const index = Number(scrubber.value);
    const latest = index >= history.length - 1;
    if (info.preview === null && !history.length) { image.hidden = true; columns.hidden = true; noPreview.hidden = false; scrubLabel.textContent = ""; return; }
    image.hidden = false; columns.hidden = false; noPreview.hidden = true;
    const base = `/api/training/${encodeURIComponent(name)}`;
    const src = latest ? `${base}/preview.png?v=${info.preview}` : `${base}/history/${history[index]}.png`;
    if (image.getAttribute("src") !== src) image.setAttribute("src", src);
    scrubLabel.textContent = history.length ? `iteration ${history[index]}${latest ? " (latest)" : ""} · ${index + 1} of ${history.length}` : "latest";
  }
  scrubber.addEventListener("input", showPreview);

  async function refresh() {
    const models = await getJSON("/api/training");
    info = await getJSON(`/api/training/${encodeURIComponent(name)}`);
    showModels(models);
    if (info.loss && (!loss.iteration.length || info.loss.iteration.at(-1) >= loss.iteration.at(-1))) Object.assign(loss, info.loss);
    live.iteration = Math.max(live.iteration, info.iteration);
    live.target = info.job?.target ?? live.target;
    live.phase = info.job?.state === "running" && live.phase ? live.phase : savedPhase();
    family.disabled = info.exists;
    showSaved();
    startButton.textContent = info.exists ? "Resume training" : "Start training";
    drawLoss(chart, loss);
    showPreview();
    showStats();
  }

  // The model's backups, newest first; restoring one keeps the current state as a backup too.
  async function showBackups() {
    const backups = info.exists ? await getJSON(`/api/training/${encodeURIComponent(name)}/backups`) : [];
    backupList.replaceChildren(backups.length
      ? h("table", { class: "model-list" }, h("tr", {}, h("th", {}, "backup"), h("th", {}, "iteration"), h("th", {}, "written"), h("th", {}, "")),
          backups.map((b) => h("tr", { "data-backup": b.name },
            h("td", {}, b.name), h("td", {}, String(b.iteration)), h("td", {}, when(b.time)),
            h("td", {}, h("button", { class: "secondary rollback", disabled: info.job?.state === "running", onclick: async () => {
              if (!confirm(`Roll model/${name} back to iteration ${b.iteration}? The current state is kept as a backup.`)) return;
              try {
                const done = await sendJSON(`/api/training/${encodeURIComponent(name)}/rollback`, { backup: b.name });
                backupMessage.textContent = `Rolled back to iteration ${done.iteration}; the state it replaced is kept as backup ${done.kept}.`;
                live.iteration = done.iteration;
                loss.iteration = []; loss.src = []; loss.dst = [];
                await refresh();
                live.iteration = info.iteration;
                showStats();
                await showBackups();
              } catch (error) { backupMessage.textContent = error.message; }
            } }, "Roll back")))))
      : h("p", { class: "muted" }, "No backups yet: training writes them every “autobackup hours”, and a roll back keeps the state it replaces."));
  }

  function follow(jobId) {
    if (stopFollowing) stopFollowing();
    stopFollowing = followJob(jobId, async (event) => {
      if (event.type === "progress" && event.kind === "iteration") {
        live.iteration = event.iteration;
        live.msPerIter = event.ms_per_iter || live.msPerIter;
        live.losses = event.losses || {};
        if (event.phase) live.phase = event.phase;
        if (event.iteration > (loss.iteration.at(-1) ?? -1) && "src" in live.losses) {
          loss.iteration.push(event.iteration); loss.src.push(live.losses.src); loss.dst.push(live.losses.dst);
          drawLoss(chart, loss);
        }
        showStats();
      } else if (event.type === "progress" && event.kind === "preview") {
        refreshButton.textContent = "Refresh preview now";
        await refresh();
      } else if (["done", "failed", "cancelled"].includes(event.type)) {
        if (event.type === "failed") message.textContent = event.message;
        refreshButton.textContent = "Refresh preview now";
        await refresh();
        await showBackups();
      }
    });
  }

  startButton.addEventListener("click", async () => {
    message.textContent = "";
    const options = { name, recipe: recipe.value, settings: settings.values() };
    if (target.value.trim() !== "") options.iterations = Number(target.value);
    if (minutes.value.trim() !== "") options.minutes = Number(minutes.value);
    if (!info.exists) options.model = family.value;
    if (previewEvery.value.trim() !== "") options.preview_every = Number(previewEvery.value);
    for (const key of Object.keys(options.settings)) if (info.exists && schema.properties[key]["x-fixed"]) delete options.settings[key];
    try {
      const job = await startJob("train", options);
      live.target = options.iterations ?? null;
      info.job = { id: job.id, state: job.state, target: options.iterations ?? null, minutes: options.minutes ?? null };
      showStats();
      follow(job.id);
    } catch (error) { message.textContent = error.message; }
  });
  stopButton.addEventListener("click", async () => {
    if (info.job) await sendJSON(`/api/jobs/${info.job.id}/cancel`);
    stopButton.disabled = true;
  });
  refreshButton.addEventListener("click", async () => {
    message.textContent = "";
    try {
      await sendJSON(`/api/training/${encodeURIComponent(name)}/refresh-preview`);
      refreshButton.textContent = "Preview requested…";
    } catch (error) { message.textContent = error.message; }
  });

  root.append(
    h("div", { class: "training-layout" },
      h("section", { class: "panel" },
        h("h2", {}, `Training model/${name}`, info.model ? h("span", { class: "muted" }, ` · ${info.model}`) : null),
        h("div", { class: "stats" },
          h("span", {}, "state ", stats.state), h("span", {}, "iteration ", stats.iteration), h("span", {}, "speed ", stats.speed),
          h("span", {}, "ETA ", stats.eta), h("span", {}, "phase ", stats.phase), h("span", {}, "loss ", stats.losses)),
        h("div", { class: "preview-frame" }, columns, image, noPreview),
        h("p", { class: "scrub" }, h("label", { for: "history-scrubber" }, "History "), scrubber, " ", scrubLabel)),
      h("div", {},
        chooser,
        h("section", { class: "panel" }, h("h2", {}, "Run"),
          h("p", {}, h("label", { for: "train-family" }, "Preset "), family,
            savedNote),
          h("p", {}, h("label", { for: "train-target" }, "Target iteration "), target),
          h("p", { class: "train-minutes" }, h("label", { for: "train-minutes" }, "Train for "), minutes, h("span", { class: "muted" }, " minutes (stops at whichever limit comes first)")),
          h("p", {}, h("label", { for: "train-recipe" }, "Recipe "), recipe),
          h("p", {}, h("label", { for: "train-preview-every" }, "Preview every "), previewEvery, h("span", { class: "muted" }, " iterations")),
          h("p", { class: "buttons" }, startButton, " ", stopButton, " ", refreshButton), message),
        h("section", { class: "panel", id: "backups-panel" }, h("h2", {}, "Backups"), backupList, backupMessage),
        h("section", { class: "panel" }, h("h2", {}, "Loss ", h("span", { class: "legend-src" }, "— src "), h("span", { class: "legend-dst" }, "— dst")), chart),
        h("details", { class: "panel", id: "train-settings" }, h("summary", {}, "Settings (saved with the model; fixed ones apply to a new model only)"), settings.element))));
  await refresh();
  await showBackups();
  if (info.job?.state === "running") follow(info.job.id);
  return () => { if (stopFollowing) stopFollowing(); };
}
