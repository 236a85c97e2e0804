// Workspace: each stage's state and last job, and forms that start each stage as a job
// (extract, sort, train, render, eval, verify); every form comes from GET /api/forms/<name>.
import { getJSON, h, startJob } from "../api.js";
import { optionsForm } from "../forms.js";

function jobBadge(job) {
  if (!job) return h("span", { class: "muted" }, "—");
  return h("a", { href: `#/jobs/${job.id}` }, `#${job.id} `, h("span", { class: `state-${job.state}` }, job.state));
}

function stageTable(state, jobs) {
  const models = state.models.length
    ? state.models.map((m) => m.error ? `${m.name}: unreadable (${m.error})` : `${m.name} (${m.model ?? "?"}, iteration ${m.iteration})`).join(", ")
    : "none";
  const last = (task) => jobs.filter((job) => job.task === task).at(-1);
  const ready = (ok) => h("span", { class: ok ? "good" : "muted" }, ok ? "●" : "○");
  const rows = [
    [ready(state.videos.src || state.videos.dst), "Source videos", `src ${state.videos.src ? "data_src.mp4" : "—"}   dst ${state.videos.dst ? "data_dst.mp4" : "—"}`, null],
    [ready(state.frames.src && state.frames.dst), "Frames", `src ${state.frames.src}   dst ${state.frames.dst}`, null],
    [ready(state.faces.src && state.faces.dst), "Faces", `src ${state.faces.src}   dst ${state.faces.dst}`, last("extract") ?? last("sort")],
    [ready(state.models.some((m) => m.iteration > 0)), "Models", models, last("train")],
    [ready(state.merged > 0), "Merged frames", String(state.merged), null],
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
  const [state, jobs] = await Promise.all([getJSON("/api/state"), getJSON("/api/jobs")]);
  const panels = await Promise.all([
    taskPanel({ task: "extract", title: "Extract faces", main: ["side", "source", "detector", "size", "face_type"],
                help: "Detect, align and save the faces of data_src or data_dst (frames or video) into its aligned/ folder." }),
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
  root.append(h("section", { class: "panel" }, h("h2", {}, "Stages"), stageTable(state, jobs)),
              h("div", { class: "grid2" }, panels));
}
