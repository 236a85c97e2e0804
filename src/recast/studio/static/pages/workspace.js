// Workspace: each stage's state and last job, the source videos (added by upload: PUT /api/footage/<side>),
// and forms that start each stage as a job (extract, sort, train, render, eval, verify); every form comes
// from GET /api/forms/<name>.
import { getJSON, h, sendFile, startJob } from "../api.js";
import { optionsForm } from "../forms.js";

function jobBadge(job) {
  if (!job) return h("span", { class: "muted" }, "—");
  return h("a", { href: `#/jobs/${job.id}` }, `#${job.id} `, h("span", { class: `state-${job.state}` }, job.state));
}

const SIDE_NAMES = { src: "source (the face put in)", dst: "destination (the face replaced)" };

function bytes(size) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

// One side's video as the stage table shows it: "data_dst.mp4 (12.3 MiB, 8.0 s, 200 frames)" or what is missing.
function videoText(video) {
  if (!video.present) return h("span", { class: "bad" }, `${video.side}: ${video.name} missing`);
  if (video.error) return h("span", { class: "bad" }, `${video.side}: ${video.name} unreadable (${video.error})`);
  return `${video.side}: ${video.name} (${bytes(video.size)}, ${video.duration.toFixed(1)} s, ${video.frame_count} frames, `
    + `${video.width}×${video.height})`;
}

// Add or replace one side's video: the file goes up as the request body; a video already there is moved aside.
function footageRow(footage, side, state) {
  const video = footage[side];
  const input = h("input", { type: "file", id: `footage-${side}`, accept: "video/*,.mp4,.mov,.mkv,.avi,.webm" });
  const message = h("div", { class: "error-text", id: `footage-${side}-message` });
  const button = h("button", { id: `upload-${side}`, disabled: true, onclick: async () => {
    const file = input.files[0];
    message.textContent = "";
    if (file.size > footage.max_bytes) { message.textContent = `${file.name} is larger than the upload limit of ${bytes(footage.max_bytes)}`; return; }
    button.disabled = true;
    button.textContent = `Uploading ${file.name}…`;
    try {
      const added = await sendFile(`/api/footage/${side}`, file);
      sessionStorage.setItem("footage-note", added.moved_aside
        ? `${file.name} is now ${added.name}; the previous video and its frames were moved to ${added.moved_aside}/`
          + (state.faces[side] ? ` (the ${state.faces[side]} faces in data_${side}/aligned came from the previous video)` : "")
        : `${file.name} is now ${added.name}.`);
      window.dispatchEvent(new HashChangeEvent("hashchange"));
    } catch (error) {
      message.textContent = error.message;
      button.disabled = false;
      button.textContent = video.present ? "Replace" : "Add";
    }
  } }, video.present ? "Replace" : "Add");
  input.addEventListener("change", () => { button.disabled = !input.files.length; });
  return h("div", { class: "footage-side", id: `footage-row-${side}` },
           h("h3", {}, `data_${side} — ${SIDE_NAMES[side]}`), h("p", {}, videoText(video)),
           h("p", { class: "footage-pick" }, input, button), message);
}

function footagePanel(footage, state) {
  const note = sessionStorage.getItem("footage-note");
  sessionStorage.removeItem("footage-note");
  return h("section", { class: "panel", id: "panel-footage" }, h("h2", {}, "Source videos"),
           h("p", { class: "muted" }, `Add the two videos (up to ${bytes(footage.max_bytes)} each). Extract reads them and writes `
             + "their frames into data_src/ and data_dst/ for merging and the manual fix."),
           note ? h("p", { class: "good", id: "footage-note" }, note) : null,
           h("div", { class: "grid2" }, footageRow(footage, "src", state), footageRow(footage, "dst", state)));
}

function stageTable(state, jobs, footage) {
  const models = state.models.length
    ? state.models.map((m) => m.error ? `${m.name}: unreadable (${m.error})` : `${m.name} (${m.model ?? "?"}, iteration ${m.iteration})`).join(", ")
    : "none";
  const last = (task) => jobs.filter((job) => job.task === task).at(-1);
  const ready = (ok) => h("span", { class: ok ? "good" : "muted" }, ok ? "●" : "○");
  const rows = [
    [ready(footage.src.present && footage.dst.present), "Source videos",
     h("span", { class: "footage-state" }, videoText(footage.src), h("br"), videoText(footage.dst)), null],
    [ready(state.frames.src && state.frames.dst), "Frames", `src ${state.frames.src}   dst ${state.frames.dst}`, null],
    [ready(state.faces.src && state.faces.dst), "Faces", `src ${state.faces.src}   dst ${state.faces.dst}`, last("extract") ?? last("sort")],
    [ready(state.models.some((m) => m.iteration > 0)), "Models", models, last("train")],
    // A render writes result.mp4 straight from the merger: merged frames on disk come only from `recast merge`.
    [ready(state.merged > 0 || state.result), "Merged frames",
     state.merged || !state.result ? String(state.merged) : h("span", { class: "muted", id: "merged-note" }, "none kept: the render writes result.mp4 directly"), null],
    [ready(state.result), "Result", state.result ? h("a", { href: "#/result" }, "result.mp4") : "—", last("render")],
    [ready(jobs.some((job) => job.task === "verify" && job.state === "done")), "Checks", "verify, eval", last("eval") ?? last("verify")],
  ];
  return h("table", { id: "stages" }, h("tr", {}, h("th", {}), h("th", {}, "Stage"), h("th", {}, "State"), h("th", {}, "Last job")),
           rows.map(([dot, stage, value, job]) => h("tr", {}, h("td", {}, dot), h("th", {}, stage), h("td", {}, value), h("td", {}, jobBadge(job)))));
}

// A panel that starts `task`: the options in `main` shown, the rest of the form's options folded away.
async function taskPanel({ task, title, form, main, help, initial = {}, fixed = {} }) {
  const schema = await getJSON(`/api/forms/${form ?? task}`);
  const shown = optionsForm(schema, { only: main, initial, prefix: task });
  const more = optionsForm(schema, { except: [...main, ...Object.keys(fixed)], initial, prefix: task });
  const message = h("div", { class: "error-text", id: `${task}-message` });
  const button = h("button", { id: `start-${task}`, onclick: async () => {
    message.textContent = "";
    try {
      const job = await startJob(task, { ...shown.values(), ...more.values(), ...fixed });
      location.hash = `#/jobs/${job.id}`;
    } catch (error) { message.textContent = error.message; }
  } }, title);
  return h("section", { class: "panel", id: `panel-${task}` }, h("h2", {}, title), h("p", { class: "muted" }, help), shown.element,
           Object.keys(more.inputs).length ? h("details", {}, h("summary", {}, `More options (${Object.keys(more.inputs).length})`), more.element) : null,
           h("p", {}, button), message);
}

async function trainPanel(state) {
  const registry = await getJSON("/api/models");
  const existing = state.models.find((m) => m.name === "default");
  const model = h("select", { id: "train-model", disabled: Boolean(existing) },
                  registry.map((entry) => h("option", { value: entry.name, title: entry.description,
                                                        selected: entry.name === (existing?.model ?? "cpu") }, entry.name)));
  // The chosen model's own training defaults (the registry's preset), shown and compared against.
  const settingsForm = async (initial = {}) => optionsForm(
    await getJSON(`/api/forms/train?model=${encodeURIComponent(existing?.model ?? model.value)}`),
    { only: ["batch_size", "optimizer", "lr"], initial });
  let form = await settingsForm();
  model.addEventListener("change", async () => {
    const fresh = await settingsForm(form.values());  // what the user changed stays; the rest: the model's defaults
    form.element.replaceWith(fresh.element);
    form = fresh;
  });
  const iterations = h("input", { id: "train-iterations", type: "number", min: 1, value: 1000 });
  const message = h("div", { class: "error-text" });
  const button = h("button", { id: "start-train", onclick: async () => {
    message.textContent = "";
    try {
      const options = { iterations: Number(iterations.value), settings: form.values() };
      if (!existing) options.model = model.value;
      const job = await startJob("train", options);
      location.hash = `#/jobs/${job.id}`;
    } catch (error) { message.textContent = error.message; }
  } }, "Start training");
  return h("section", { class: "panel", id: "panel-train" }, h("h2", {}, "Train"),
           h("p", { class: "muted" }, "Train (or resume) model/default on the src and dst faces; watch it on the ", h("a", { href: "#/training" }, "Training page"), "."),
           h("p", {}, h("label", { for: "train-model" }, "Model "), model,
             existing ? h("span", { class: "muted" }, ` model/default exists (iteration ${existing.iteration}): training resumes it`) : null),
           h("p", {}, h("label", { for: "train-iterations" }, "Target iteration "), iterations), form.element,
           h("p", {}, button), message);
}

export async function render(root) {
  const [state, jobs, footage] = await Promise.all([getJSON("/api/state"), getJSON("/api/jobs"), getJSON("/api/footage")]);
  const panels = await Promise.all([
    taskPanel({ task: "extract", title: "Extract faces", main: ["side", "source", "detector", "size", "face_type"],
                help: "Detect, align and save the faces of data_src or data_dst into its aligned/ folder; from a video it also writes the frames into data_src/ or data_dst/." }),
    taskPanel({ task: "sort", title: "Sort faceset", main: ["side", "method", "target", "restore"],
                help: "Rename the faces into order by a DeepFaceLab method; rejects go to the trash folder (undo: restore)." }),
    trainPanel(state),
    taskPanel({ task: "render", title: "Render result", main: ["model", "mode", "mask_mode", "color", "erode", "blur", "force"],
                help: "Merge the model's face into every dst frame, straight into the labelled result.mp4 (mask video, audio, provenance)." }),
    taskPanel({ task: "eval", title: "Evaluate result", main: ["every", "force"],
                help: "Score result.mp4: identity, pose, expression, sharpness, jitter, background (report in result_eval/)." }),
    taskPanel({ task: "verify", title: "Verify labels", main: ["frames"],
                help: "Check result.mp4 for recast's labels: container tag, provenance sidecar, watermark, C2PA." }),
  ]);
  // The render form's model field offers the workspace's face models (named models: the Training page).
  const faceModels = await getJSON("/api/training");
  const renderModel = panels.find((panel) => panel.id === "panel-render")?.querySelector("#render-model");
  if (renderModel) {
    renderModel.setAttribute("list", "render-model-names");
    renderModel.after(h("datalist", { id: "render-model-names" }, faceModels.filter((m) => !m.error).map((m) => h("option", { value: m.name }, `${m.model ?? ""} · iteration ${m.iteration}`))));
  }
  root.append(h("section", { class: "panel" }, h("h2", {}, "Stages"), stageTable(state, jobs, footage)),
              footagePanel(footage, state), h("div", { class: "grid2" }, panels));
}
