// Shared helpers for pages: requests to the studio API, DOM building, job event streams.
// The token travels in an HttpOnly cookie set when the printed URL was opened.

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function check(response) {
  if (response.ok) return response;
  let message = await response.text();
  try { const body = JSON.parse(message); message = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail); } catch { /* plain text */ }
  throw new ApiError(response.status, message);
}

export async function getJSON(url) {
  return (await check(await fetch(url, { credentials: "same-origin" }))).json();
}

export async function sendJSON(url, body, method = "POST") {
  const response = await fetch(url, { method, credentials: "same-origin", headers: { "content-type": "application/json" },
                                      body: JSON.stringify(body ?? {}) });
  return (await check(response)).json();
}

// Send a File (or Blob) as the request body, streamed by the browser; the JSON answer.
export async function sendFile(url, file, method = "PUT") {
  const response = await fetch(url, { method, credentials: "same-origin", headers: { "content-type": "application/octet-stream" },
                                      body: file });
  return (await check(response)).json();
}

// h("div", {class: "panel", onclick: fn}, child, "text", ...) -> HTMLElement
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

// Follow a job's events (replayed from the start, then live). onEvent(event) for each; returns a stop function.
export function followJob(jobId, onEvent, after = -1) {
  const source = new EventSource(`/api/jobs/${jobId}/events?after=${after}`);
  const types = ["log", "progress", "done", "failed", "cancelled", "cancel-requested"];
  for (const type of types) source.addEventListener(type, (message) => onEvent(JSON.parse(message.data)));
  source.addEventListener("end", () => source.close());
  return () => source.close();
}

export async function startJob(task, options) {
  return sendJSON("/api/jobs", { task, options });
}
