// Live: swap a camera or a workspace video in real time; the labelled output streams in as MJPEG.
import { followJob, getJSON, h, sendJSON, startJob } from "../api.js";
import { optionsForm } from "../forms.js";

export async function render(root) {
  const [choices, schema] = await Promise.all([getJSON("/api/live/sources"), getJSON("/api/forms/merge")]);
  const input = h("select", { id: "live-input" }, choices.inputs.map((name) => h("option", { value: name }, name)));
  const model = h("select", { id: "live-model" }, choices.models.map((name) => h("option", { value: name }, name)));
  const form = optionsForm(schema, { only: choices.settings });
  const view = h("img", { id: "live-view", alt: "live output", style: "max-width: 100%; background: #000; min-height: 240px" });
  const stats = h("p", { id: "live-stats", class: "muted" }, "not running");
  const message = h("div", { class: "error-text" });
  let job = null;
  let stopFollowing = null;
  const start = h("button", { id: "live-start", onclick: async () => {
    message.textContent = "";
    try {
      job = await startJob("live", { model: model.value, input: input.value, settings: form.values() });
    } catch (error) { message.textContent = error.message; return; }
    start.disabled = true; stop.disabled = false;
    view.src = `/api/live/${job.id}/mjpeg`;
    stopFollowing = followJob(job.id, (event) => {
      if (event.type === "progress" && event.kind === "live") {
        stats.textContent = `${event.delivered} frames · ${event.fps} fps · latency ${event.latency_ms} ms · ${event.faces} face(s)` +
          (event.iteration != null ? ` · model at iteration ${event.iteration}` : "");
      } else if (["done", "failed", "cancelled"].includes(event.type)) {
        const result = event.result ? ` — ${event.result.delivered} frames, ${event.result.fps} fps, ${event.result.dropped} dropped, median latency ${event.result.latency_median_ms} ms` : "";
        stats.textContent = `${event.type}${event.message ? ": " + event.message : ""}${result}`;
        start.disabled = false; stop.disabled = true;
      }
    });
  } }, "Start");
  const stop = h("button", { id: "live-stop", class: "secondary", disabled: true,
    onclick: async () => { if (job) await sendJSON(`/api/jobs/${job.id}/cancel`); } }, "Stop");
  root.append(
    h("section", { class: "panel" }, h("h2", {}, "Live"),
      h("p", {}, h("label", { for: "live-input" }, "Input "), input, "  ", h("label", { for: "live-model" }, "Model "), model),
      form.element, h("p", {}, start, " ", stop), message),
    h("section", { class: "panel" }, view, stats,
      h("p", { class: "muted" }, "Every frame carries recast's invisible watermark. Frames arriving while one is being swapped are dropped, never queued.")));
  return () => { if (stopFollowing) stopFollowing(); view.src = ""; };
}
