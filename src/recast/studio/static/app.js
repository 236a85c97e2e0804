// The studio's shell: a hash router (#/<page>/<rest>) loading one module per page from ./pages/.
// A page module exports render(root, {params}) and may return a cleanup function.
import { getJSON, h } from "./api.js";

export const PAGES = [
  { id: "workspace", title: "Workspace" },
  { id: "jobs", title: "Jobs" },
  { id: "live", title: "Live" },
];

let cleanup = null;

async function route() {
  const [id = "workspace", ...params] = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  const page = PAGES.find((p) => p.id === id) ?? PAGES[0];
  for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", link.dataset.page === page.id);
  if (typeof cleanup === "function") cleanup();
  cleanup = null;
  const root = document.getElementById("page");
  root.replaceChildren(h("p", { class: "muted" }, "loading…"));
  document.title = `${page.title} · recast studio`;
  try {
    const module = await import(`./pages/${page.id}.js`);
    root.replaceChildren();
    cleanup = await module.render(root, { params: params.map(decodeURIComponent) });
  } catch (error) {
    root.replaceChildren(h("p", { class: "bad" }, `could not show this page: ${error.message}`));
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
