"""Studio start time: ``recast studio`` process start → first HTTP 200 of ``/api/state`` with the token.

    python benchmarks/studio.py               # 5 starts on a synthetic workspace with a model
    python benchmarks/studio.py --runs 10 --json results.json

Each run starts ``python -m recast.cli studio WORKSPACE --port P --no-browser`` as a fresh process,
reads the token from the URL it prints, and polls ``GET /api/state`` (token header) every 10 ms
until it answers 200. Reported per run: the time to the printed URL (imports and app creation,
before uvicorn listens), to the first 200 of ``/api/state`` (which reads the model's state.json,
loading torch on the way), and a second ``/api/state`` (warm). The workspace: 200 synthetic src and
dst faces and a saved ``cpu`` model folder (state.json), so ``/api/state`` does its real work.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from recast.atomic import atomic_write_text
from recast.faces.facetype import FaceType
from recast.studio.server import free_port
from recast.train.synthetic import write_synthetic_faceset
from recast.workspace import init_workspace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import print_table

URL = re.compile(r"open: (http://\S+)\?token=(\S+)")


def make_workspace(root: Path, faces: int) -> Path:
    """Synthetic facesets and a model folder as training leaves it (state.json only)."""
    ws = init_workspace(root)
    write_synthetic_faceset(ws.src_aligned, faces, identity=0, size=96, face_type=FaceType.WHOLE)
    write_synthetic_faceset(ws.dst_aligned, faces, identity=1, size=96, face_type=FaceType.WHOLE)
    model = ws.model_dir()
    (model / "checkpoints" / "000000100").mkdir(parents=True)
    (model / "state.json").write_text(json.dumps({"checkpoint": "checkpoints/000000100", "iteration": 100,
                                                  "model": "cpu", "settings": {}}))
    return root


def get_state(base: str, token: str) -> int:
    request = urllib.request.Request(f"{base}api/state", headers={"x-recast-token": token})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, ConnectionError):
        return 0


def one_start(workspace: Path) -> dict[str, float]:
    """Seconds from process start to: the printed URL, the first 200 of /api/state, a second one."""
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "recast.cli", "studio", str(workspace), "--port", str(port),
                                "--no-browser"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="300"))
    try:
        assert process.stdout is not None
        printed = None
        for line in process.stdout:
            printed = URL.search(line)
            if printed:
                break
        if printed is None:
            raise RuntimeError("recast studio printed no URL")
        url_at = time.perf_counter() - started
        base, token = printed.group(1), printed.group(2)
        while (status := get_state(base, token)) != 200:
            if process.poll() is not None or time.perf_counter() - started > 120:
                raise RuntimeError(f"no 200 from /api/state (last status {status})")
            time.sleep(0.01)
        first = time.perf_counter() - started
        warm_start = time.perf_counter()
        get_state(base, token)
        warm = time.perf_counter() - warm_start
    finally:
        process.terminate()
        process.wait(30)
    return {"url_s": url_at, "first_state_s": first, "warm_state_ms": warm * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="Studio starts to time.")
    parser.add_argument("--faces", type=int, default=200, help="Faces per side in the workspace.")
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recast-bench-studio-") as folder:
        workspace = make_workspace(Path(folder) / "ws", args.faces)
        one_start(workspace)  # warm the OS file cache: every timed start then reads the same cached files
        runs = [one_start(workspace) for _ in range(args.runs)]
    rows = [[i + 1, f"{r['url_s']:.2f}", f"{r['first_state_s']:.2f}", f"{r['warm_state_ms']:.1f}"]
            for i, r in enumerate(runs)]
    median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    rows.append(["median", f"{median['url_s']:.2f}", f"{median['first_state_s']:.2f}",
                 f"{median['warm_state_ms']:.1f}"])
    print(f"recast studio start time ({args.runs} starts, {args.faces} faces per side, cpu model state)")
    print_table(["run", "URL printed (s)", "first /api/state 200 (s)", "warm /api/state (ms)"], rows)
    if args.json:
        atomic_write_text(args.json, json.dumps({"runs": runs, "median": median}, indent=1))


if __name__ == "__main__":
    main()
