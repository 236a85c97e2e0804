"""Run every benchmark (``make bench``), print one summary table, and save the numbers as JSON.

    python benchmarks/run_all.py                   # quick settings, ≤ 14 min on 2 cores
    python benchmarks/run_all.py --only eval merge
    python benchmarks/run_all.py --full            # each script's default (long) settings

First prints what the machine is and what recast chose for it (``benchmarks/machine.py``: CPU,
usable cores, thread plan, precision and why, fp32 and bf16 GEMM peaks measured in the same run).
Then runs ``benchmarks/<name>.py`` for each of :data:`SCRIPTS` that exists, in its own process with
a time budget (its output is echoed as it comes; a script over budget is stopped and whatever tables
it printed are kept). Quick settings: ``--quick`` where the
script's argparse offers it, else lighter arguments from :data:`LIGHT` (only flags the script
declares). Scripts that need ../shared/data are skipped with a note when it is absent. A script
that declares ``--json PATH`` is given one and its JSON is stored; from all others the printed
tables are parsed. Headline columns — frames/s, ms/iter, GFLOP/s, share of the same-run GEMM peak,
seconds, peak RSS — go into the summary; the whole record (tables, JSON, output tail, wall time,
peak RSS of the process tree) goes to ``benchmarks/results/<UTC date-time>.json``.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from recast.atomic import atomic_write_text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_report, print_report
from measure import SHARED_DATA, print_table

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SCRIPTS = ("extract", "faceset", "train", "train_memory", "merge", "eval", "watermark", "studio", "studio_faceset",
           "studio_merge")
#: Seconds each script may run with quick settings (sum ≈ 15 min, typical total ≈ 10 min on 2 busy
#: cores; ``--max-minutes`` caps the total); ``--full`` multiplies them by 4.
BUDGET_S = {"extract": 330, "faceset": 90, "train": 200, "train_memory": 60, "merge": 75, "eval": 75,
            "watermark": 90, "studio": 45, "studio_faceset": 120, "studio_merge": 120}
#: Lighter arguments for scripts without ``--quick`` (a flag is used only if the script declares it).
LIGHT = {
    "extract": ["--only", "speed"],
    "faceset": ["--n", "1500"],
    "watermark": ["--frames", "12"],
    "studio": ["--runs", "3"],
    "studio_faceset": ["--runs", "1"],
    "studio_merge": ["--requests", "20"],
}
#: Scripts that cannot run without ../shared/data.
NEEDS_SHARED_DATA = {"extract", "studio_merge"}

_DASHES = re.compile(r"-+( {2}-+)*")
_KINDS = (
    ("frames/s", re.compile(r"(frames/s|frames_per_s|fps|\w+ fps)")),
    ("ms/iter", re.compile(r"(ms/iter|ms_per_iter|ms/step)")),
    ("GFLOP/s", re.compile(r"(gflop/s|gflops)")),
    ("of GEMM peak", re.compile(r"(of peak|peak_fraction|of_peak)")),
    ("seconds", re.compile(r"(wall s|seconds|eval s)")),
    ("peak RSS MB", re.compile(r"(peak rss mb|peak_rss_mb|rss mb)")),
)
_GEMM_PEAK = re.compile(r"GEMM.*?peak[^:]*:\s*([\d.]+)\s*GFLOP/s")


def declared_flags(script: Path) -> set[str]:
    """The ``--flags`` a script's argparse declares (read from its source, without running it)."""
    flags = set()
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
            flags.update(a.value for a in node.args if isinstance(a, ast.Constant) and str(a.value).startswith("--"))
    return flags


def arguments(name: str, flags: set[str], full: bool) -> list[str]:
    """Command-line arguments for one script: ``--quick``, else :data:`LIGHT` flags it declares."""
    if full:
        return []
    if "--quick" in flags:
        return ["--quick"]
    light, args = LIGHT.get(name, []), []
    for index, token in enumerate(light):
        if token.startswith("--") and token in flags:
            value = light[index + 1] if index + 1 < len(light) and not light[index + 1].startswith("--") else None
            args += [token] if value is None else [token, value]
    return args


def _tree_rss_kb(pid: int) -> int:
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                total += sum(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
            with open(f"/proc/{current}/task/{current}/children") as children:
                todo.extend(int(c) for c in children.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def run_script(name: str, args: list[str], budget: float) -> dict:
    """Run one script with a time budget, echoing its output; returns status, output and measurements."""
    command = [sys.executable, str(HERE / f"{name}.py"), *args]
    print(f"\n=== {name}: {' '.join(command[1:])}  (budget {budget:.0f} s)", flush=True)
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               cwd=HERE.parent, start_new_session=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    lines: list[str] = []

    def pump() -> None:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            print(f"  [{name}] {line}", end="", flush=True)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    peak, timed_out = 0, False
    while process.poll() is None:
        peak = max(peak, _tree_rss_kb(process.pid))
        if time.perf_counter() - start > budget:
            timed_out = True
            _stop(process)
            break
        time.sleep(0.1)
    process.wait()
    reader.join(timeout=10)
    seconds = time.perf_counter() - start
    status = "timeout" if timed_out else ("ok" if process.returncode == 0 else "failed")
    return {"status": status, "returncode": process.returncode, "seconds": round(seconds, 1),
            "peak_rss_mb": round(peak / 1024.0, 1), "output": "\n".join(lines)}


def _stop(process: subprocess.Popen) -> None:
    """Stop a script and the processes it started (its own session)."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def parse_tables(text: str) -> list[dict]:
    """Tables in a script's output: ``print_table`` ones (header, dashes, rows) and fixed-width ones.

    A fixed-width table is a header of 3+ cells split by 2+ spaces, one of them a headline column,
    followed by rows whose last cells are single words. Returns ``[{title, headers, rows}]``.
    """
    lines, tables, i = text.splitlines(), [], 0
    while i < len(lines):
        line, following = lines[i], lines[i + 1] if i + 1 < len(lines) else ""
        title = lines[i - 1].strip() if i > 0 and lines[i - 1].strip() else ""
        if line.strip() and _DASHES.fullmatch(following.rstrip()):
            starts = [m.start() for m in re.finditer(r"-+", following)]
            rows, j = [], i + 2
            while j < len(lines) and lines[j].strip():
                rows.append(_cut(lines[j], starts))
                j += 1
            tables.append({"title": title, "headers": _cut(line, starts), "rows": rows})
            i = j
            continue
        headers = re.split(r"\s{2,}", line.strip())
        if len(headers) >= 3 and not line.startswith(" ") and any(_kind(h) for h in headers):
            rows, j = [], i + 1
            while j < len(lines) and lines[j].strip():
                tokens = lines[j].split()
                if not lines[j].startswith(" ") and len(tokens) >= len(headers):
                    rows.append([" ".join(tokens[: len(tokens) - len(headers) + 1]), *tokens[-len(headers) + 1:]])
                j += 1
            if rows:
                tables.append({"title": title, "headers": headers, "rows": rows})
                i = j
                continue
        i += 1
    return tables


def _cut(line: str, starts: list[int]) -> list[str]:
    ends = [*starts[1:], None]
    return [line[s:e].strip() for s, e in zip(starts, ends, strict=True)]


def _kind(header: str) -> str | None:
    name = header.strip().lower()
    for kind, pattern in _KINDS:
        if pattern.fullmatch(name):
            return kind
    return None


def headlines(name: str, tables: list[dict], data: object) -> list[dict]:
    """One ``{benchmark, case, <kind>: value}`` per row that has a headline column.

    Rows come from the script's ``--json`` output when it is a list of objects (or an object with
    a ``rows`` list), else from its printed tables.
    """
    found = []
    json_rows = data.get("rows", []) if isinstance(data, dict) else data if isinstance(data, list) else []
    sources = [{"title": "", "headers": list(r), "rows": [[str(v) for v in r.values()]]}
               for r in json_rows if isinstance(r, dict)]
    for table in sources or tables:
        headers = table["headers"]
        firsts = [row[0] for row in table["rows"] if row]
        for row in table["rows"]:
            values: dict[str, list[str]] = {}
            for header, cell in zip(headers, row, strict=False):
                kind = _kind(header)
                if kind and cell:
                    values.setdefault(kind, []).append(cell if _kind_count(headers, kind) == 1 else f"{header} {cell}")
            if not values:
                continue
            case = _case(headers, row) if firsts.count(row[0]) > 1 and len(row) > 1 else row[0]
            found.append({"benchmark": name, "case": case, **{k: ", ".join(v) for k, v in values.items()}})
    return found


def _case(headers: list[str], row: list[str]) -> str:
    """A row label when the first cell repeats: with the other label cells (text, not measurements),
    else with the second column (``cpu (batch 4)``)."""
    labels = [cell for header, cell in zip(headers[1:], row[1:], strict=False)
              if not _kind(header) and re.search(r"[A-Za-z]", cell)]
    return " · ".join([row[0], *labels]) if labels else f"{row[0]} ({headers[1]} {row[1]})"


def _kind_count(headers: list[str], kind: str) -> int:
    return sum(1 for h in headers if _kind(h) == kind)


def _git_commit() -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE.parent, capture_output=True,
                              text=True, timeout=10, check=False)
    except OSError:
        return None
    return done.stdout.strip() or None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=SCRIPTS, default=None, help="run only these benchmarks")
    parser.add_argument("--full", action="store_true", help="each script's default settings, 4 × the budget")
    parser.add_argument("--max-minutes", type=float, default=14.0, help="stop starting scripts after this")
    args = parser.parse_args()
    stamp = datetime.datetime.now(datetime.UTC)
    deadline = time.perf_counter() + 60.0 * args.max_minutes
    record: dict = {
        "started_utc": stamp.isoformat(timespec="seconds"), "git_commit": _git_commit(),
        "host": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "shared_data": SHARED_DATA.is_dir(), "full": args.full, "machine": machine_report(), "scripts": {},
    }
    print_report(record["machine"])
    with tempfile.TemporaryDirectory(prefix="recast-bench-") as tmp:
        for name in args.only or SCRIPTS:
            record["scripts"][name] = entry = {"status": "skipped", "note": ""}
            script = HERE / f"{name}.py"
            left = deadline - time.perf_counter()
            if not script.is_file():
                entry["note"] = f"benchmarks/{name}.py does not exist (yet)"
            elif name in NEEDS_SHARED_DATA and not SHARED_DATA.is_dir():
                entry["note"] = f"needs {SHARED_DATA} (absent)"
            elif left < 30:
                entry["note"] = f"the {args.max_minutes:g} min total budget is spent"
            else:
                flags = declared_flags(script)
                script_args = arguments(name, flags, args.full)
                json_path = Path(tmp) / f"{name}.json"
                if "--json" in flags:
                    script_args += ["--json", str(json_path)]
                budget = min(BUDGET_S.get(name, 120) * (4 if args.full else 1), left)
                shown = [a if a != str(json_path) else "<tmp>.json" for a in script_args]
                entry.update(run_script(name, script_args, budget), args=shown, budget_s=round(budget))
                if entry["status"] == "timeout":
                    entry["note"] = f"stopped after its {budget:.0f} s budget; tables printed so far kept"
                elif entry["status"] == "failed":
                    entry["note"] = (entry["output"].strip().splitlines() or ["no output"])[-1][:160]
                entry["json"] = json.loads(json_path.read_text()) if json_path.is_file() else None
                entry["tables"] = parse_tables(entry["output"])
                peak = _GEMM_PEAK.search(entry["output"])
                entry["gemm_peak_gflops"] = float(peak.group(1)) if peak else None
                entry["output_tail"] = entry.pop("output")[-6000:]
                entry["headlines"] = headlines(name, entry["tables"], entry["json"])
    report(record)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{stamp.strftime('%Y-%m-%dT%H-%M-%SZ')}.json"
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    print(f"\nsaved {path.relative_to(HERE.parent)}")


def report(record: dict) -> None:
    """Print the per-script status table and the headline table."""
    print("\n\nBenchmark runs:")
    rows = [[name, e["status"], e.get("seconds", ""), e.get("budget_s", ""), e.get("peak_rss_mb", ""),
             " ".join(e.get("args", [])), e.get("note", "")] for name, e in record["scripts"].items()]
    print_table(["benchmark", "status", "wall s", "budget s", "tree peak RSS MB", "arguments", "note"], rows)
    kinds = [kind for kind, _ in _KINDS]
    lines = [h for e in record["scripts"].values() for h in e.get("headlines", [])]
    for entry in record["scripts"].values():
        if entry.get("gemm_peak_gflops"):
            print(f"(same-run fp32 GEMM peak: {entry['gemm_peak_gflops']} GFLOP/s)")
    if lines:
        print("\nHeadline numbers:")
        print_table(["benchmark", "case", *kinds], [[h["benchmark"], h["case"], *(h.get(k, "") for k in kinds)]
                                                    for h in lines])


if __name__ == "__main__":
    main()
