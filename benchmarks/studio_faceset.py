"""Studio faceset page with 10,000 faces: listing time and first paint in a real Chromium.

    python benchmarks/studio_faceset.py                  # 10,000 faces of 256 px, 3 runs each
    python benchmarks/studio_faceset.py --n 2000 --runs 1

The faceset is ``--distinct`` synthetic aligned faces (``write_synthetic_faceset``) copied up to
``--n`` files (every copy is its own file, so each needs its own thumbnail). The studio runs on a
thread of this process (uvicorn, as ``recast studio`` serves it); Chromium is Debian's, driven by
Playwright. Measured:

* listing: ``GET /api/faceset/src`` (names and keys of every face): the first request, and the
  median of the next ones (the server remembers a listing until the folder changes), and its size;
* first paint: from the start of navigation to ``#/faceset/src`` until every thumbnail in view
  has loaded and decoded (``performance.now()`` in the page), with the thumbnail cache on disk
  cold (``.studio/thumbs`` removed), warm (new browser profile, thumbnails on disk), and with the
  browser's own cache warm too (a reload: thumbnail URLs are immutable, nothing is fetched);
* jump: scroll to the middle of the grid, until the thumbnails in view there have loaded (cold).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from measure import print_table

VISIBLE_LOADED = """() => {
  const images = [...document.querySelectorAll('.fs-cell img')];
  return images.length > 0 && images.every((i) => i.complete && i.naturalWidth > 0);
}"""

JUMP = """async (past) => {
  const grid = document.querySelector('#face-grid');
  const start = performance.now();
  grid.scrollTop = grid.scrollHeight / 2;
  const loaded = () => {
    const cells = [...document.querySelectorAll('.fs-cell')];
    return cells.length > 0 && cells.every((c) => Number(c.dataset.index) > past)
      && cells.every((c) => c.querySelector('img').complete && c.querySelector('img').naturalWidth > 0);
  };
  while (!loaded()) await new Promise((resolve) => requestAnimationFrame(resolve));
  return performance.now() - start;
}"""


def make_workspace(root: Path, n: int, distinct: int, size: int) -> Path:
    """A workspace whose src faceset holds ``n`` faces (``distinct`` synthetic ones, copied)."""
    from recast.faces.facetype import FaceType
    from recast.train.synthetic import write_synthetic_faceset
    from recast.workspace import init_workspace

    ws = init_workspace(root)
    seeds = root / "seeds"
    write_synthetic_faceset(seeds, min(distinct, n), size=size, face_type=FaceType.WHOLE)
    faces = sorted(seeds.iterdir())
    for i in range(n):
        shutil.copyfile(faces[i % len(faces)], ws.src_aligned / f"{i:05d}_0.jpg")
    shutil.rmtree(seeds)
    return root


def painted(page) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Milliseconds from navigation start until every thumbnail in view has loaded, and how many."""
    page.wait_for_function(VISIBLE_LOADED, polling="raf", timeout=120_000)
    return float(page.evaluate("performance.now()")), int(page.evaluate("document.querySelectorAll('.fs-cell').length"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="faces in the set")
    parser.add_argument("--distinct", type=int, default=200, help="distinct synthetic faces (the rest are copies)")
    parser.add_argument("--size", type=int, default=256, help="aligned face side in pixels")
    parser.add_argument("--runs", type=int, default=3, help="repeats of each measurement (median shown)")
    parser.add_argument("--json", type=Path, default=None, help="also write the table as JSON here")
    args = parser.parse_args()

    import httpx2 as httpx

    from recast.studio.app import StudioConfig
    from recast.studio.faceset import THUMBS
    from recast.studio.server import BackgroundStudio, free_port
    from studio_support import chromium

    root = Path(tempfile.mkdtemp(prefix="recast-studio-faceset-bench-")) / "ws"
    try:
        start = time.perf_counter()
        make_workspace(root, args.n, args.distinct, args.size)
        print(f"made {args.n} faces of {args.size} px in {time.perf_counter() - start:.0f} s", flush=True)
        time.sleep(1.1)  # a folder changed within the last second is listed afresh each time (see list_folder)
        config = StudioConfig(workspace=root, port=free_port())
        studio = BackgroundStudio(config).start()
        url = config.url + "#/faceset/src"
        rows: list[list[object]] = []
        try:
            base = f"http://127.0.0.1:{config.port}"
            with httpx.Client(base_url=base, headers={"x-recast-token": config.token}) as client:
                times, size = [], 0
                for _ in range(max(args.runs, 5)):
                    t = time.perf_counter()
                    response = client.get("/api/faceset/src")
                    times.append((time.perf_counter() - t) * 1000)
                    size = len(response.content)
                    assert len(response.json()["faces"]) == args.n
            rows.append(["listing GET /api/faceset/src, first", f"{times[0]:.0f}", "", "", f"{size / 1024:.0f} KiB"])
            rest = times[1:]
            rows.append(["listing GET /api/faceset/src, folder unchanged", f"{statistics.median(rest):.0f}",
                         f"{min(rest):.0f}", f"{max(rest):.0f}", ""])
            with chromium() as browser:
                measured: dict[str, list[float]] = {"cold": [], "warm": [], "browser": [], "jump": []}
                shown = 0
                for _ in range(args.runs):
                    shutil.rmtree(root / THUMBS, ignore_errors=True)
                    for key in ("cold", "warm"):
                        context = browser.new_context(viewport={"width": 1280, "height": 860})
                        page = context.new_page()
                        page.goto(url)
                        elapsed, shown = painted(page)
                        measured[key].append(elapsed)
                        if key == "warm":
                            page.reload()
                            measured["browser"].append(painted(page)[0])
                            shutil.rmtree(root / THUMBS, ignore_errors=True)
                            measured["jump"].append(float(page.evaluate(JUMP, args.n // 4)))
                        context.close()
            labels = {"cold": f"first paint, cold thumbnail cache ({shown} in view)",
                      "warm": "first paint, thumbnails cached on disk",
                      "browser": "first paint, browser cache warm (reload)",
                      "jump": "scroll to the middle, cold cache"}
            for key, label in labels.items():
                values = measured[key]
                rows.append([label, f"{statistics.median(values):.0f}", f"{min(values):.0f}", f"{max(values):.0f}", ""])
        finally:
            studio.stop()
        headers = ["measure", "median ms", "min ms", "max ms", "note"]
        print(f"{args.n} faces of {args.size} px, {args.runs} runs")
        print_table(headers, rows)
        if args.json is not None:
            args.json.write_text(json.dumps([dict(zip(headers, row, strict=True)) for row in rows], indent=1))
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
