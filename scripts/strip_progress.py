"""Remove progress-bar fragments (tqdm's carriage-return updates) from executed notebooks.

    python scripts/strip_progress.py book/psp.ipynb [...]

`make reproduce` runs it after papermill: the committed chapters keep their warnings and
printed results, but not hundreds of progress-bar states that nobody reads in the book.
Cell outputs only; sources, execution counts and metadata stay as executed.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

BAR = re.compile(r"(\d+%\|)|(\d+/\d+ \[\d)|(it/s\])|(s/it\])|(\[\d\d:\d\d<)")


def clean_text(text: str) -> str:
    """Drop every line (or carriage-return segment) that is a progress-bar state."""
    kept = []
    for line in text.replace("\r\n", "\n").split("\n"):
        parts = [p for p in line.split("\r") if p.strip() and not BAR.search(p)]
        if parts:
            kept.append(parts[-1])
    return "\n".join(kept) + ("\n" if kept else "")


def clean(path: Path) -> int:
    nb = json.loads(path.read_text())
    removed = 0
    for cell in nb["cells"]:
        outs = []
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream" and o.get("name") == "stderr":
                text = clean_text("".join(o["text"]))
                if not text.strip():
                    removed += 1
                    continue
                o["text"] = text.splitlines(keepends=True)
            outs.append(o)
        if "outputs" in cell:
            cell["outputs"] = outs
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return removed


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(f"{arg}: {clean(Path(arg))} progress-bar outputs removed")
