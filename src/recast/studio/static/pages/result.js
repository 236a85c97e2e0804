// Result: the result video (and its mask video), the provenance check (`recast verify`) and the
// swap-quality report (`recast eval`) with its plots. Checks run as jobs; their reports are files.
import { followJob, getJSON, h, startJob } from "../api.js";
import { progressView } from "./jobs.js";

const METRICS = [
  ["identity_same_person", "identity: same person as src", (v) => `${(100 * v).toFixed(1)} %`],
  ["identity_retrieval", "closer to src than to dst", (v) => `${(100 * v).toFixed(1)} %`],
  ["pose_error_deg", "pose error (mean |Δ| pitch, yaw, roll)", (v) => `${v.toFixed(2)}°`],
  ["expression_error", "expression error (÷ inter-ocular)", (v) => v.toFixed(4)],
  ["sharpness", "sharpness, result ÷ dst (1 = as sharp)", (v) => v.toFixed(2)],
  ["jitter_ratio", "jitter ratio result / dst", (v) => v.toFixed(2)],
  ["background_psnr_db_mean", "background PSNR outside the face", (v) => `${v.toFixed(2)} dB`],
];

// What an input check's status means for the user (the sidecar records each input's sha256 at render time).
const INPUT_STATUS = {
  mismatch: (role) => role === "model"
    ? "The model changed after this result was rendered (trained further?): the result came from its earlier weights. Render again to label it with the current model."
    : `This ${role} changed after the result was rendered: the result was made from an earlier version of it.`,
  missing: (role) => `The ${role} recorded at render time is no longer in the workspace, so it cannot be compared.`,
};

function mark(ok) {
  if (ok === null || ok === undefined) return h("span", { class: "muted" }, "–");
  return ok ? h("span", { class: "good" }, "✓") : h("span", { class: "bad" }, "✗");
}

function verifyTable(report, root) {
  const short = (path) => (path.startsWith(`${root}/`) ? path.slice(root.length + 1) : path);
  const rows = [
    [report.container_tag, "container tag", report.container_tag === null ? "not applicable" : (report.container_tag ? "present" : "none")],
    [report.sidecar_ok, "provenance sidecar", report.sidecar ? (report.sidecar_ok ? report.sidecar.split("/").at(-1) : report.sidecar_problem) : "none"],
  ];
  if (report.result_hash !== null) rows.push([report.result_hash === "ok", "result unchanged since labelling", report.result_hash]);
  for (const check of report.input_checks) {
    rows.push([["missing", "unchecked"].includes(check.status) ? null : check.status === "ok", `input ${check.role}`,
               h("span", {}, `${check.status} ${short(check.path)}${check.reason ? ` (${check.reason})` : ""}`,
                 INPUT_STATUS[check.status] ? h("br") : null, INPUT_STATUS[check.status]?.(check.role) ?? null)]);
  }
  rows.push([report.c2pa ? report.c2pa.synthetic && report.c2pa.signature_valid : null, "C2PA manifest",
             report.c2pa ? `signed by ${report.c2pa.signer}${report.c2pa.signature_valid ? "" : " (signature INVALID)"}` : "none (or c2pa-python not installed)"]);
  rows.push([report.watermark, "invisible watermark", `${report.frames_marked} of ${report.frames_checked} frames` +
             (report.median_score !== null ? ` (median score ${report.median_score.toFixed(1)}, threshold ${report.score_threshold})` : "")]);
  return h("table", { id: "verify-table" }, rows.map(([ok, what, detail]) => h("tr", {}, h("td", {}, mark(ok)), h("th", {}, what), h("td", { class: "muted" }, detail))));
}

function evalTable(summary) {
  return h("table", { id: "eval-table" }, METRICS.map(([key, label, format]) => {
    const value = summary[key];
    return h("tr", {}, h("th", {}, label), h("td", {}, typeof value === "number" ? format(value) : "n/a"));
  }));
}

// replaceChildren without the null / false placeholders of optional parts.
function fill(element, ...children) {
  element.replaceChildren(...children.filter((child) => child !== null && child !== undefined && child !== false));
}

export async function render(root) {
  const stops = [];
  const panels = { video: h("section", { class: "panel", id: "result-video" }), verify: h("section", { class: "panel", id: "result-verify" }),
                   eval: h("section", { class: "panel", id: "result-eval" }) };
  root.append(h("div", { class: "result-layout" }, panels.video, h("div", {}, panels.verify), panels.eval));

  function runButton(id, label, task, options, status) {
    const button = h("button", { id }, label);
    button.addEventListener("click", async () => {
      button.disabled = true;
      status.className = "muted";
      status.textContent = "starting…";
      try {
        const job = await startJob(task, options());
        const [bar, feed, finish] = progressView(job);
        status.replaceChildren(bar, h("a", { href: `#/jobs/${job.id}` }, `job #${job.id}`));
        stops.push(followJob(job.id, async (event) => {
          feed(event);
          if (["done", "failed", "cancelled"].includes(event.type)) finish(event.type);
          if (event.type === "failed") { status.className = "bad"; status.textContent = event.message; button.disabled = false; }
          if (event.type === "cancelled") { status.textContent = "cancelled"; button.disabled = false; }
          if (event.type === "done") await show();
        }));
      } catch (error) { status.className = "bad"; status.textContent = error.message; button.disabled = false; }
    });
    return button;
  }

  let every = null;  // the "every N-th" input: its value stays across refreshes (else the report's own)

  async function show() {
    const result = await getJSON("/api/result");
    const version = result.video ? result.video.modified : 0;
    const player = result.video
      ? h("video", { id: "result-player", controls: true, preload: "auto", src: `/api/result/video/result?v=${version}` })
      : h("p", { class: "muted", id: "no-result" }, "No result.mp4 yet: render it on the Workspace page (or the merge tuner).");
    const maskLink = result.mask ? h("a", { href: `/api/result/video/mask?v=${version}`, target: "_blank" }, "mask video") : null;
    fill(panels.video, h("h2", {}, "Result video"), player,
      result.video ? h("p", { class: "muted" }, `${result.video.name}, ${(result.video.bytes / 1e6).toFixed(2)} MB, made ${new Date(result.video.modified * 1000).toLocaleString()}`,
                       maskLink ? " · " : "", maskLink, result.sidecar ? ` · provenance: ${result.sidecar.name}` : "") : null);

    const verifyStatus = h("div", { class: "muted", id: "verify-status" });
    const verify = result.verify;
    fill(panels.verify, h("h2", {}, "Provenance (recast verify)"),
      verify ? h("p", { id: "verify-verdict", class: verify.labelled ? "good verdict" : "bad verdict" }, verify.verdict) : h("p", { class: "muted" }, "Not checked yet."),
      verify?.stale ? h("p", { class: "bad" }, "The video changed after this check: check again.") : null,
      verify ? verifyTable(verify, result.root) : null,
      h("p", {}, runButton("run-verify", verify ? "Check again" : "Check labels", "verify", () => ({}), verifyStatus)), verifyStatus);
    if (!result.video) panels.verify.querySelector("#run-verify").disabled = true;

    const evalStatus = h("div", { class: "muted", id: "eval-status" });
    const report = result.eval;
    every = h("input", { id: "eval-every", type: "number", min: 1, value: every?.value ?? report?.settings?.every ?? 1 });
    fill(panels.eval, h("h2", {}, "Swap quality (recast eval)"),
      report ? h("div", { class: "eval-body" },
        h("div", {}, report.stale ? h("p", { class: "bad" }, "The video changed after this report: evaluate again.") : null,
          h("p", { class: "muted" }, `${report.summary.frames_with_face} of ${report.summary.frames_evaluated} evaluated frames with a face`),
          evalTable(report.summary)),
        report.plot ? h("img", { id: "eval-plot", src: `/api/result/eval.png?v=${Date.now()}`, alt: "eval plots: metrics over time, worst and median frames" }) : null)
        : h("p", { class: "muted" }, "No report yet."),
      h("p", {}, h("label", { for: "eval-every" }, "Every N-th frame "), every, " ",
        runButton("run-eval", report ? "Evaluate again" : "Evaluate", "eval", () => ({ every: Number(every.value), force: Boolean(report) }), evalStatus)),
      evalStatus);
    if (!result.video) panels.eval.querySelector("#run-eval").disabled = true;
  }

  await show();
  return () => stops.forEach((stop) => stop());
}
