// The studio's shell: a hash router (#/<page>/<rest>) loading one module per page from ./pages/.
// A page module exports render(root, {params}) and may return a cleanup function.
import { getJSON, h } from "./api.js";

export const PAGES = [
  { id: "workspace", title: "Workspace" },
  { id: "jobs", title: "Jobs" },
  { id: "faceset", title: "Facesets" },
  { id: "xseg", title: "XSeg" },
  { id: "training", title: "Training" },
  { id: "merge", title: "Merge" },
  { id: "result", title: "Result" },
  { id: "live", title: "Live" },
];

let cleanup = null;
let generation = 0;

// Each route renders into its own container: a page still loading when the hash changes again
// renders into a detached element and is cleaned up at once, so two pages never mix.
async function route() {
  const mine = ++generation;
  const [id = "workspace", ...params] = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  const page = PAGES.find((p) => p.id === id) ?? PAGES[0];
  for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", link.dataset.page === page.id);
  if (typeof cleanup === "function") cleanup();
  cleanup = null;
  const container = h("div", {}, h("p", { class: "muted" }, "loading…"));
  document.getElementById("page").replaceChildren(container);
  document.title = `${page.title} · recast studio`;
  try {
    const module = await import(`./pages/${page.id}.js`);
    container.replaceChildren();
    const done = await module.render(container, { params: params.map(decodeURIComponent) });
    if (mine === generation) cleanup = done;
    else if (typeof done === "function") done();
  } catch (error) {
    container.replaceChildren(h("p", { class: "bad" }, `could not show this page: ${error.message}`));
  }
}

async function start() {
  const nav = document.getElementById("nav");
  for (const page of PAGES) nav.append(h("a", { href: `#/${page.id}`, dataset: { page: page.id } }, page.title));
  window.addEventListener("hashchange", route);
  try {
    const state = await getJSON("/api/state");
    document.getElementById("workspace-name").textContent = state.root;
  } catch { /* the page itself reports errors */ }
  await route();
}

start();
