"""Same seed, same numbers: execute a chapter twice from an empty model cache, each time in a fresh
process, and compare every glued number and every value of its results JSON — between the two runs
and, with ``--committed``, against the committed chapter.

    .venv/bin/python benchmarks/repro_check.py lvs --scale smoke
    .venv/bin/python benchmarks/repro_check.py world --scale book --committed
    .venv/bin/python benchmarks/repro_check.py psp --scale book --committed --runs 1   # one cold run vs the committed one

Writes ``results/repro-check-<chapter>-<scale>.json`` (the differences, empty when bit-identical)
and exits 1 when anything differs. Wall time: twice the chapter's cold run.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: not results: the provenance (code identity, dates, times, memory) and cache bookkeeping
VOLATILE = {"provenance", "cached"}
#: glued values that are timings, or how many models this execution trained (cache bookkeeping), not results
TIMINGS = {"world_rate", "ex5_rate_1", "ex5_rate_n", "ex5_speedup", "run_minutes", "psp_confirm_minutes",
           "dsol_seed_minutes", "psp_confirm_trained", "dsol_confirm_trained"}


def glued(nb_path: Path) -> dict:
    """Every ``myst_nb.glue`` value of an executed notebook, as its text/plain repr."""
    nb = json.loads(Path(nb_path).read_text())
    out = {}
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            if name and name not in TIMINGS:
                out[name] = o.get("data", {}).get("application/papermill.record/text/plain")
    return out


def flatten(x, prefix=""):
    """Nested JSON → ``{"a.b[3].c": leaf}``, leaving out volatile provenance fields."""
    if isinstance(x, dict):
        items = {}
        for k, v in x.items():
            if k in VOLATILE:
                continue
            items.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return items
    if isinstance(x, list):
        items = {}
        for i, v in enumerate(x):
            items.update(flatten(v, f"{prefix}[{i}]"))
        return items
    return {prefix: x}


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def diff(a: dict, b: dict) -> list:
    keys = sorted(set(a) | set(b))
    return [{"key": k, "first": a.get(k), "second": b.get(k)} for k in keys if not same(a.get(k), b.get(k))]


def execute(chapter: str, scale: str, work: Path, seeds=None) -> tuple[dict, dict, float]:
    """Run the chapter with papermill in a fresh process, an empty cache and its own results folder
    (``seeds``: the chapter's ``seeds`` parameter; ``None`` keeps the scale's default seeds)."""
    cache, results = work / "cache", work / "results"
    cache.mkdir(parents=True)
    results.mkdir()
    env = {**os.environ, "AVLIB_SCALE": scale, "AVLIB_CACHE": str(cache)}
    out_nb = work / f"{chapter}.ipynb"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "papermill", str(ROOT / "book" / f"{chapter}.ipynb"), str(out_nb),
                    "--cwd", str(ROOT / "book"), "-k", "python3", "-p", "out_dir", str(results), "--log-level", "ERROR"]
                   + ([] if seeds is None else ["-y", json.dumps({"seeds": [int(s) for s in seeds]})]),
                   env=env, check=True)
    wall = time.perf_counter() - t0
    res_file = results / f"{chapter}-{scale}.json"
    values = flatten(json.loads(res_file.read_text())) if res_file.exists() else {}
    return glued(out_nb), values, wall


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("chapter", choices=["world", "mil", "psp", "lvs", "dsol"])
    ap.add_argument("--scale", default="smoke", choices=["smoke", "book", "paper"])
    ap.add_argument("--runs", type=int, default=2, choices=[1, 2],
                    help="cold executions (1 only with --committed: the committed chapter is the other)")
    ap.add_argument("--committed", action="store_true",
                    help="also compare the first run with the committed book/<chapter>.ipynb and results JSON")
    args = ap.parse_args(argv)
    if args.runs == 1 and not args.committed:
        ap.error("--runs 1 compares against the committed chapter: add --committed")
    with tempfile.TemporaryDirectory(prefix="repro-") as tmp:
        runs = [execute(args.chapter, args.scale, Path(tmp) / f"run{k}") for k in range(args.runs)]
    (g1, r1, w1) = runs[0]
    report = {"chapter": args.chapter, "scale": args.scale, "wall_time_s": [round(r[2], 1) for r in runs],
              "glued_values": len(g1), "results_values": len(r1)}
    if args.runs == 2:
        report.update(glue_differences=diff(g1, runs[1][0]), results_differences=diff(r1, runs[1][1]))
    if args.committed:
        committed = ROOT / "results" / f"{args.chapter}-{args.scale}.json"
        report["committed_glue_differences"] = diff(glued(ROOT / "book" / f"{args.chapter}.ipynb"), g1)
        report["committed_results_differences"] = (diff(flatten(json.loads(committed.read_text())), r1)
                                                   if committed.exists() else "no committed results JSON")
    bad = {k: v for k, v in report.items() if k.endswith("differences") and v}
    out = ROOT / "results" / f"repro-check-{args.chapter}-{args.scale}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=str))
    print(f"{args.chapter} at {args.scale}: {len(g1)} glued numbers, {len(r1)} results values, "
          f"cold runs of {', '.join(f'{r[2]:.0f} s' for r in runs)}; "
          + ("bit-identical" if not bad else "DIFFERENCES: " + ", ".join(f"{k} ({len(v)})" for k, v in bad.items())))
    print(f"report: {out.relative_to(ROOT)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
