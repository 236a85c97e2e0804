// Live: swap a camera or a workspace video in real time; the labelled output streams in as MJPEG.
// The stream sits at the top beside its controls; before a start a placeholder stands in for it.
import { followJob, getJSON, h, sendJSON, startJob } from "../api.js";
import { optionsForm } from "../forms.js";

export async function render(root) {
  const [choices, schema] = await Promise.all([getJSON("/api/live/sources"), getJSON("/api/forms/merge")]);
  const input = h("select", { id: "live-input" }, choices.inputs.map((name) => h("option", { value: name }, name)));
  const model = h("select", { id: "live-model" }, choices.models.map((name) => h("option", { value: name }, name)));
  const form = optionsForm(schema, { only: choices.settings });
  const view = h("img", { id: "live-view", alt: "live output", hidden: true });
  const placeholder = h("div", { id: "live-placeholder", class: "placeholder" },
    !choices.models.length ? "No face model yet: train one on the Training page."
      : !choices.inputs.length ? "No input: add a video on the Workspace page (or connect a camera)."
        : "Not running: choose an input and a model, then Start. The swapped frames appear here.");
  const stats = h("p", { id: "live-stats", class: "muted" }, "not running");
  const message = h("div", { class: "error-text" });
  let job = null;
  let stopFollowing = null;
  const start = h("button", { id: "live-start", disabled: !choices.models.length || !choices.inputs.length, onclick: async () => {
    message.textContent = "";
    try {
      job = await startJob("live", { model: model.value, input: input.value, settings: form.values() });
    } catch (error) { message.textContent = error.message; return; }
    start.disabled = true; stop.disabled = false;
    view.src = `/api/live/${job.id}/mjpeg`;  // shows nothing (no broken icon) until the first frame arrives
    view.hidden = false; placeholder.hidden = true;
    stopFollowing = followJob(job.id, (event) => {
      if (event.type === "progress" && event.kind === "live") {
        stats.textContent = `${event.delivered} frames · ${event.fps} fps · median latency ${event.latency_ms} ms (last second) · ${event.faces} face(s)` +
          (event.iteration != null ? ` · model at iteration ${event.iteration}` : "");
      } else if (["done", "failed", "cancelled"].includes(event.type)) {
        const result = event.result ? ` — ${event.result.delivered} frames, ${event.result.fps} fps, ${event.result.dropped} dropped, median latency ${event.result.latency_median_ms} ms` +
          (event.result.iteration != null ? `, model at iteration ${event.result.iteration}` : "") : "";
        stats.textContent = `${event.type}${event.message ? ": " + event.message : ""}${result}`;
        start.disabled = false; stop.disabled = true;
      }
    });
  } }, "Start");
  const stop = h("button", { id: "live-stop", class: "secondary", disabled: true,
    onclick: async () => { if (job) await sendJSON(`/api/jobs/${job.id}/cancel`); } }, "Stop");
  view.addEventListener("error", () => { view.hidden = true; placeholder.hidden = false; placeholder.textContent = "The stream ended before a frame arrived."; });
  root.append(
    h("div", { class: "live-layout" },
      h("section", { class: "panel" }, h("h2", {}, "Live"), view, placeholder, stats,
        h("p", { class: "muted" }, "Every frame carries recast's invisible watermark. Frames arriving while one is being swapped are dropped, never queued. Latency: from a frame's capture to its output being published.")),
      h("section", { class: "panel" },
        h("p", {}, h("label", { for: "live-input" }, "Input "), input),
        h("p", {}, h("label", { for: "live-model" }, "Model "), model),
        h("p", {}, start, " ", stop), message, form.element)));
  return () => { if (stopFollowing) stopFollowing(); view.removeAttribute("src"); };
}
