// Jobs: the list, and one job's progress bar and ETA, live log (replayed after a reload), readable
// result, and Cancel while it runs. jobProgress() is the one progress/ETA reckoning for any page.
import { followJob, getJSON, h, sendJSON } from "../api.js";

function stateBadge(state) { return h("span", { class: `state-${state}` }, state); }

function clock(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "—";
  const s = Math.round(seconds);
  return `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

// Progress of `job` (its summary: task, options) from its events, in order: feed(event) returns
// { fraction (0…1, or null while unknown), eta (seconds, or null), text }. A step counted as done/total
// (frames, faces, …) starts its own clock; training counts iterations toward its target (iterations,
// more, or minutes of wall time). Event times ("t") are the server's, so a replayed log gives the same ETA.
export function jobProgress(job) {
  const options = job.options || {};
  let step = null, startedAt = null, startValue = null, target = null;
  return function feed(event) {
    if (event.type !== "progress") return null;
    let fraction = null, text = "";
    if (event.total && event.done !== undefined) {
      if (step !== event.kind) { step = event.kind; startedAt = event.t; startValue = event.done; }
      fraction = event.done / event.total;
      text = `${event.kind}: ${event.done} of ${event.total}`;
    } else if (event.iteration !== undefined && event.iteration !== null) {
      if (startValue === null || step !== "iterations") { step = "iterations"; startedAt = event.t; startValue = event.iteration; }
      target = event.total ?? options.iterations ?? (options.more ? startValue + options.more : null);
      if (target) {
        fraction = Math.min((event.iteration - startValue) / Math.max(target - startValue, 1), 1);
        text = `iteration ${event.iteration} of ${target}`;
      } else if (options.minutes) {
        fraction = Math.min((event.t - startedAt) / (options.minutes * 60), 1);
        text = `iteration ${event.iteration} · ${options.minutes} min run`;
      } else {
        text = `iteration ${event.iteration}`;
      }
    } else {
      return event.message ? { fraction: null, eta: null, text: event.message } : null;
    }
    const elapsed = event.t - startedAt;
    const eta = fraction > 0 && fraction < 1 && elapsed > 0 ? elapsed * (1 - fraction) / fraction : null;
    return { fraction, eta, text };
  };
}

// A progress bar with its ETA line, fed the job's events; returns [element, feed(event), finish(state)].
export function progressView(job) {
  const bar = h("progress", { class: "job-bar", max: 1 });
  const label = h("span", { class: "muted job-eta" }, job.state === "running" ? "starting…" : "");
  const feedProgress = jobProgress(job);
  const element = h("div", { class: "job-progress", id: `job-progress-${job.id}` }, bar, label);
  function feed(event) {
    const shown = feedProgress(event);
    if (!shown) return;
    if (shown.fraction === null) bar.removeAttribute("value"); else bar.value = shown.fraction;
    label.textContent = shown.text + (shown.eta !== null ? ` · ETA ${clock(shown.eta)}` : "");
  }
  function finish(state) {
    if (state === "done") bar.value = 1;
    else if (!bar.hasAttribute("value")) bar.value = 0;
    label.textContent = `${state}${label.textContent ? ` · ${label.textContent.replace(/ · ETA.*$/, "")}` : ""}`;
  }
  return [element, feed, finish];
}

function shownValue(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (Array.isArray(value)) return value.length ? value.map(shownValue).join(", ") : "none";
  if (typeof value === "object") {
    return Object.entries(value).map(([k, v]) => `${k.replaceAll("_", " ")} ${shownValue(v)}`).join(" · ");
  }
  return String(value);
}

// A job's result as a list of "what: value" lines (not raw JSON).
export function resultSummary(result) {
  return h("dl", { class: "job-result", id: "job-result" },
    Object.entries(result || {}).flatMap(([key, value]) => [h("dt", {}, key.replaceAll("_", " ")), h("dd", {}, shownValue(value))]));
}

// The jobs, newest first; a running one shows its progress bar and ETA (followed live; returns the stop).
async function jobList(root) {
  const jobs = await getJSON("/api/jobs");
  const stops = [];
  const rows = jobs.slice().reverse().map((job) => {
    let shown = h("span", { class: "muted" }, job.error ?? (job.result ? shownValue(job.result) : ""));
    if (job.state === "running") {
      const [progress, feed, finish] = progressView(job);
      const state = h("td", {}, stateBadge(job.state));
      stops.push(followJob(job.id, (event) => {
        feed(event);
        if (["done", "failed", "cancelled"].includes(event.type)) { finish(event.type); state.replaceChildren(stateBadge(event.type)); }
      }));
      shown = progress;
      return h("tr", { "data-job": job.id }, h("td", {}, h("a", { href: `#/jobs/${job.id}` }, `#${job.id}`)), h("td", {}, job.task),
               state, h("td", { class: "job-list-progress" }, shown), h("td", { class: "muted" }, new Date(job.created * 1000).toLocaleString()));
    }
    return h("tr", { "data-job": job.id },
      h("td", {}, h("a", { href: `#/jobs/${job.id}` }, `#${job.id}`)), h("td", {}, job.task), h("td", {}, stateBadge(job.state)),
      h("td", {}, shown), h("td", { class: "muted" }, new Date(job.created * 1000).toLocaleString()));
  });
  root.append(h("section", { class: "panel" }, h("h2", {}, "Jobs"),
    rows.length ? h("table", { id: "job-list" }, rows) : h("p", { class: "muted" }, "No jobs yet.")));
  return () => { for (const stop of stops) stop(); };
}

function describe(event) {
  if (event.type === "log") return `[${event.level}] ${event.message}`;
  if (event.type === "progress") {
    const losses = Object.entries(event.losses || {}).map(([k, v]) => `${k} ${Number(v).toFixed(4)}`).join("  ");
    if (event.done !== undefined) return `${event.kind}: ${event.done}${event.total ? ` of ${event.total}` : ""}`;
    return `${event.kind} ${event.iteration ?? ""} ${event.ms_per_iter ? event.ms_per_iter + " ms/it" : ""} ${losses} ${event.message || ""}`.trim();
  }
  if (event.type === "done") return `done: ${shownValue(event.result)}`;
  return `${event.type}${event.message ? ": " + event.message : ""}`;
}

async function jobDetail(root, jobId) {
  const job = await getJSON(`/api/jobs/${jobId}`);
  const state = h("span", { id: "job-state" }, stateBadge(job.state));
  const log = h("pre", { class: "log", id: "job-log" });
  const [progress, feed, finish] = progressView(job);
  const result = h("div", { id: "job-outcome" });
  const cancel = h("button", { id: "cancel-job", class: "secondary", hidden: job.state !== "running",
    onclick: async () => { cancel.disabled = true; await sendJSON(`/api/jobs/${jobId}/cancel`); } }, "Cancel");
  root.append(h("section", { class: "panel" }, h("h2", {}, `Job #${job.id}: ${job.task} `, state, " ", cancel),
                progress, result, h("details", { open: job.state === "running" }, h("summary", {}, "Log"), log)),
              h("p", {}, h("a", { href: "#/jobs" }, "← all jobs")));
  return followJob(jobId, (event) => {
    log.append(describe(event) + "\n");
    log.scrollTop = log.scrollHeight;
    feed(event);
    if (["done", "failed", "cancelled"].includes(event.type)) {
      state.replaceChildren(stateBadge(event.type));
      cancel.hidden = true;
      finish(event.type);
      result.replaceChildren(event.type === "done" ? resultSummary(event.result)
        : h("p", { class: event.type === "failed" ? "bad" : "muted" }, event.message || event.type));
    }
  });
}

export async function render(root, { params }) {
  if (params.length) return jobDetail(root, Number(params[0]));
  return jobList(root);
}
