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


def _shown(nb: dict):
    """What a reader sees of each code cell's outputs: (cell index, kind, text) for streams, HTML and plain text."""
    for i, c in enumerate(nb["cells"]):
        for o in c.get("outputs", []):
            if o["output_type"] == "stream":
                yield i, o["name"], "".join(o["text"])
            elif o["output_type"] in ("display_data", "execute_result"):
                data = o.get("data", {})
                kind = "text/html" if "text/html" in data else "text/plain"
                if kind in data:
                    yield i, kind, "".join(data[kind])


def _page_problems(nb: dict) -> list[str]:
    """NaN (also "±nan") in what a reader sees, stderr outputs, and warnings printed to a stream."""
    import re
    nan = re.compile(r"(?<![\w.])±?nan(?![\w(])", re.IGNORECASE)
    problems = []
    for i, kind, text in _shown(nb):
        if kind == "stderr":
            problems.append(f"cell {i}: stderr output {text[:80]!r}")
        elif kind == "stdout" and re.search(r"\w*Warning\b", text):
            problems.append(f"cell {i}: a warning {text[:80]!r}")
        plain = re.sub(r"<[^>]+>", " ", text)
        for m in nan.finditer(plain):
            problems.append(f"cell {i} ({kind}): {m.group(0)!r} near {plain[max(0, m.start() - 40):m.end() + 20]!r}")
    return problems


def test_the_page_check_finds_what_it_looks_for():
    def nb(*outputs):
        return {"cells": [{"cell_type": "code", "outputs": list(outputs)}]}
    html = {"output_type": "display_data", "data": {"text/html": ["<td>NaN</td><td>1.0 (> ±nan)</td>"]}}
    assert len(_page_problems(nb(html))) == 2
    assert _page_problems(nb({"output_type": "stream", "name": "stderr", "text": ["x"]}))
    assert _page_problems(nb({"output_type": "stream", "name": "stdout", "text": ["FutureWarning: y"]}))
    fine = {"output_type": "execute_result", "data": {"text/plain": ["nanmean, np.nan(…) and Nanjing are words"]}}
    assert _page_problems(nb(fine)) == []


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_nan_warning_or_stderr_on_the_page(path):
    problems = _page_problems(json.loads(path.read_text()))
    assert not problems, "\n".join(problems[:10])


COLUMN_PX = 784          # the book's text column at a desktop width (scripts/page_layout.py measures it)
CHAR_PX, CELL_PAD_PX = 8.0, 16.0


def _min_table_widths(html: str) -> list[float]:
    """Each HTML table's narrowest layout, estimated as a browser finds it: per column, the longest word
    (text breaks at spaces, line breaks and after hyphens) at about 8 px a character, plus the cell padding.
    Within about 10 % of what Chromium lays out (scripts/page_layout.py, results/page-layout.json)."""
    import html as H
    import re
    widths = []
    for table in re.findall(r"<table.*?</table>", html, re.S):
        cols = {}
        for row in re.findall(r"<tr.*?</tr>", table, re.S):
            for k, cell in enumerate(re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)):
                text = re.sub(r"<[^>]+>", " ", H.unescape(re.sub(r"<br\s*/?>", " ", cell)))
                cols[k] = max(cols.get(k, 0), max((len(w) for w in re.split(r"\s+|(?<=-)", text)), default=0))
        widths.append(sum(CHAR_PX * n + CELL_PAD_PX for n in cols.values()))
    return widths


def test_the_width_estimate_flags_a_wide_table():
    narrow = "<table><tr><th>claim</th><th>verdict</th></tr><tr><td>a long claim text</td><td>ok</td></tr></table>"
    wide = "<table><tr>" + "".join(f"<th>recall_visual_missing_{k}</th>" for k in range(8)) + "</tr></table>"
    assert _min_table_widths(narrow)[0] < COLUMN_PX < _min_table_widths(wide)[0]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_tables_fit_the_text_column(path):
    nb = json.loads(path.read_text())
    wide = [(i, round(w)) for i, kind, text in _shown(nb) if kind == "text/html"
            for w in _min_table_widths(text) if w > 1.1 * COLUMN_PX]
    assert not wide, f"tables wider than the {COLUMN_PX}-px column (cell, estimated px): {wide}"
