"""The committed chapters: executed, error-free, smoke-runnable under nbval, provenance last."""
import json
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = sorted(BOOK.glob("*.ipynb"))


def test_every_chapter_in_the_toc_exists():
    toc = (BOOK.parent / "_toc.yml").read_text()
    for name in ("world", "mil", "psp", "lvs", "dsol"):
        assert f"book/{name}" in toc
        assert (BOOK / f"{name}.ipynb").exists() or (BOOK / f"{name}.md").exists()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_is_executed_and_scale_follows_the_environment(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    tags = [t for c in code for t in c.get("metadata", {}).get("tags", [])]
    # an injected papermill cell would pin the scale and make nbval run the chapter at book scale
    assert "injected-parameters" not in tags, "run papermill without -p scale (use AVLIB_SCALE)"
    params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1 and 'os.environ.get("AVLIB_SCALE", "book")' in "".join(params[0]["source"])
    assert all(c["execution_count"] is not None for c in code), "cells never executed"
    assert not any(o["output_type"] == "error" for c in code for o in c.get("outputs", []))
    assert "provenance(" in "".join(code[-1]["source"]), "the last cell must print the provenance"
    assert path.stat().st_size < 10_000_000, "keep a committed notebook under about 10 MB (figures at 150 dpi)"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_committed_chapter_holds_no_progress_bar_fragments(path):
    import re
    bar = re.compile(r"\d+%\||it/s\]|s/it\]")
    nb = json.loads(path.read_text())
    fragments = sum(bool(bar.search("".join(o.get("text", ""))))
                    for c in nb["cells"] for o in c.get("outputs", [])
                    if o.get("output_type") == "stream")
    assert fragments == 0, f"{fragments} progress-bar outputs: run scripts/strip_progress.py (make reproduce does)"
