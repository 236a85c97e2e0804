// Workspace: each stage's state, and forms that start the stage as a job.
import { getJSON, h, startJob } from "../api.js";
import { optionsForm } from "../forms.js";

function stageTable(state) {
  const models = state.models.length
    ? state.models.map((m) => m.error ? `${m.name}: unreadable (${m.error})` : `${m.name} (${m.model ?? "?"}, iteration ${m.iteration})`).join(", ")
    : "none";
  const rows = [
    ["Source videos", `src ${state.videos.src ? "✓" : "—"}   dst ${state.videos.dst ? "✓" : "—"}`],
    ["Frames", `src ${state.frames.src}   dst ${state.frames.dst}`],
    ["Faces", `src ${state.faces.src}   dst ${state.faces.dst}`],
    ["Models", models],
    ["Merged frames", String(state.merged)],
    ["Result", state.result ? "result.mp4" : "—"],
  ];
  return h("table", { id: "stages" }, rows.map(([stage, value]) => h("tr", {}, h("th", {}, stage), h("td", {}, value))));
}

async function trainPanel(state) {
  const [schema, registry] = await Promise.all([getJSON("/api/forms/train"), getJSON("/api/models")]);
  const existing = state.models.find((m) => m.name === "default");
  const model = h("select", { id: "train-model", disabled: Boolean(existing) },
                  registry.map((entry) => h("option", { value: entry.name, title: entry.description,
                                                        selected: entry.name === (existing?.model ?? "cpu") }, entry.name)));
  const form = optionsForm(schema, { only: ["batch_size", "lr", "random_flip", "preview_every"].filter((n) => n in schema.properties) });
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
  return h("section", { class: "panel" }, h("h2", {}, "Train"),
           h("p", {}, h("label", { for: "train-model" }, "Model "), model,
             existing ? h("span", { class: "muted" }, ` model/default exists (iteration ${existing.iteration}): training resumes it`) : null),
           h("p", {}, h("label", { for: "train-iterations" }, "Target iteration "), iterations), form.element,
           h("p", {}, button), message);
}

export async function render(root) {
  const state = await getJSON("/api/state");
  root.append(h("section", { class: "panel" }, h("h2", {}, "Stages"), stageTable(state)), await trainPanel(state));
}
