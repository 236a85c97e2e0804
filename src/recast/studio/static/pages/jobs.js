// Jobs: the list, and one job's live log and progress (replayed after a reload), with cancel.
import { followJob, getJSON, h, sendJSON } from "../api.js";

function stateBadge(state) { return h("span", { class: `state-${state}` }, state); }

async function jobList(root) {
  const jobs = await getJSON("/api/jobs");
  const rows = jobs.slice().reverse().map((job) => h("tr", {},
    h("td", {}, h("a", { href: `#/jobs/${job.id}` }, `#${job.id}`)), h("td", {}, job.task), h("td", {}, stateBadge(job.state)),
    h("td", { class: "muted" }, new Date(job.created * 1000).toLocaleString())));
  root.append(h("section", { class: "panel" }, h("h2", {}, "Jobs"),
    rows.length ? h("table", { id: "job-list" }, rows) : h("p", { class: "muted" }, "No jobs yet.")));
}

function describe(event) {
  if (event.type === "log") return `[${event.level}] ${event.message}`;
  if (event.type === "progress") {
    const losses = Object.entries(event.losses || {}).map(([k, v]) => `${k} ${Number(v).toFixed(4)}`).join("  ");
    return `${event.kind} ${event.iteration ?? ""} ${event.ms_per_iter ? event.ms_per_iter + " ms/it" : ""} ${losses} ${event.message || ""}`.trim();
  }
  if (event.type === "done") return `done: ${JSON.stringify(event.result)}`;
  return `${event.type}${event.message ? ": " + event.message : ""}`;
}

async function jobDetail(root, jobId) {
  const job = await getJSON(`/api/jobs/${jobId}`);
  const state = h("span", { id: "job-state" }, stateBadge(job.state));
  const log = h("pre", { class: "log", id: "job-log" });
  const cancel = h("button", { id: "cancel-job", class: "secondary", disabled: job.state !== "running",
    onclick: async () => { await sendJSON(`/api/jobs/${jobId}/cancel`); } }, "Cancel");
  root.append(h("section", { class: "panel" }, h("h2", {}, `Job #${job.id}: ${job.task} `, state), h("p", {}, cancel), log),
              h("p", {}, h("a", { href: "#/jobs" }, "← all jobs")));
  return followJob(jobId, (event) => {
    log.append(describe(event) + "\n");
    log.scrollTop = log.scrollHeight;
    if (["done", "failed", "cancelled"].includes(event.type)) {
      state.replaceChildren(stateBadge(event.type));
      cancel.disabled = true;
    }
  });
}

export async function render(root, { params }) {
  if (params.length) return jobDetail(root, Number(params[0]));
  await jobList(root);
  return null;
}
