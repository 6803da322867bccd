"""Verdict stability: re-execute a chapter with a disjoint seed set and count the claims whose verdict holds.

    .venv/bin/python benchmarks/verdict_stability.py psp --scale book                 # seeds 101-105
    .venv/bin/python benchmarks/verdict_stability.py mil --scale book --seeds 201 202 203 204 205

The chapter runs cold in a fresh process (empty model cache, its own results folder; see
``repro_check.execute``) with the given seeds, which must share none with the committed run's; its
claims are matched to the committed ``results/<chapter>-<scale>.json`` by their text. Writes
``results/verdict-stability-<chapter>-<scale>.json`` (every claim's two verdicts and means, the
count that held, the fresh run's confirmatory seeds) and prints the share. Wall time: one cold run of the chapter.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from repro_check import ROOT, execute  # noqa: E402


def compare_verdicts(committed: list[dict], fresh: list[dict]) -> dict:
    """Claims matched by text: each one's committed and fresh verdict and mean, and how many held.

    A claim whose text names something the seeds decide (LVS's "the best baseline (…)") can differ in
    text between the runs: claims left unmatched on both sides are paired in their order in the
    chapter (``matched: "position"``). One left over on one side only counts as not held.
    """
    old = {c["claim"]: c for c in committed}
    new = {c["claim"]: c for c in fresh}
    pairs = [(old[c], new[c], "text") for c in old if c in new]
    rest_old = [c for c in committed if c["claim"] not in new]
    rest_new = [c for c in fresh if c["claim"] not in old]
    n = min(len(rest_old), len(rest_new))
    pairs += [(a, b, "position") for a, b in zip(rest_old[:n], rest_new[:n])]
    pairs += [(a, {}, "none") for a in rest_old[n:]] + [({}, b, "none") for b in rest_new[n:]]
    rows = [{"claim": a.get("claim", b.get("claim")), "fresh_claim": b.get("claim"), "matched": how,
             "committed": a.get("verdict"), "fresh": b.get("verdict"), "mean_committed": a.get("mean"),
             "mean_fresh": b.get("mean"), "held": a.get("verdict") is not None and a.get("verdict") == b.get("verdict")}
            for a, b, how in pairs]
    held = sum(r["held"] for r in rows)
    return {"claims": rows, "held": held, "total": len(rows), "share": held / len(rows) if rows else None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("chapter", choices=["mil", "psp", "lvs", "dsol"])
    ap.add_argument("--scale", default="book", choices=["smoke", "book", "paper"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[101, 102, 103, 104, 105])
    args = ap.parse_args(argv)
    committed_path = ROOT / "results" / f"{args.chapter}-{args.scale}.json"
    if not committed_path.exists():
        ap.error(f"no committed {committed_path.relative_to(ROOT)}: execute the chapter at {args.scale} first")
    committed = json.loads(committed_path.read_text())
    used = set(committed["provenance"].get("seeds") or [])
    if used & set(args.seeds):
        ap.error(f"seeds {sorted(used & set(args.seeds))} were used by the committed run: choose a disjoint set")
    with tempfile.TemporaryDirectory(prefix="verdicts-") as tmp:
        _, _, wall = execute(args.chapter, args.scale, Path(tmp) / "run", seeds=args.seeds)
        fresh = json.loads((Path(tmp) / "run" / "results" / f"{args.chapter}-{args.scale}.json").read_text())
    report = {"chapter": args.chapter, "scale": args.scale, "committed_seeds": sorted(used), "fresh_seeds": args.seeds,
              # the fresh run's own confirmatory set (the seed rule sizes it from the fresh pilot)
              "fresh_confirm_seeds": fresh["results"].get("confirm_seeds"), "wall_time_s": round(wall, 1),
              **compare_verdicts(committed["results"]["claims"], fresh["results"]["claims"])}
    out = ROOT / "results" / f"verdict-stability-{args.chapter}-{args.scale}.json"
    out.write_text(json.dumps(report, indent=1, default=str))
    print(f"{args.chapter} at {args.scale}: {report['held']} of {report['total']} verdicts held on seeds {args.seeds} "
          f"({wall / 60:.1f} min); report: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
