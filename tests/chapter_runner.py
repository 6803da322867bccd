"""Run a chapter with papermill on a ``data_root`` at smoke scale (the real-data chapter tests).

``run_chapter("psp", tmp_path, root)`` executes ``book/psp.ipynb`` with ``data_root=root`` and
``out_dir`` in ``tmp_path`` (the committed results are never touched), and returns the executed
notebook (a dict) and its results JSON. :func:`shown_text` is everything a reader would see.
"""
import json
import os
from pathlib import Path

BOOK = Path(__file__).resolve().parents[1] / "book"


def run_chapter(chapter: str, tmp_path, data_root, **params):
    import papermill
    out_dir = Path(tmp_path) / "results"
    out = Path(tmp_path) / f"{chapter}-executed.ipynb"
    old = os.environ.get("AVLIB_SCALE")
    os.environ["AVLIB_SCALE"] = "smoke"
    try:
        papermill.execute_notebook(str(BOOK / f"{chapter}.ipynb"), str(out), cwd=str(BOOK), kernel_name="python3",
                                   progress_bar=False,
                                   parameters={"data_root": str(data_root), "out_dir": str(out_dir), **params})
    finally:
        if old is None:
            os.environ.pop("AVLIB_SCALE")
        else:
            os.environ["AVLIB_SCALE"] = old
    found = sorted(out_dir.glob(f"{chapter}-*-smoke.json"))
    assert len(found) == 1, f"expected one real-data results file of {chapter}, found {found}"
    return json.loads(out.read_text()), json.loads(found[0].read_text())


def shown_text(nb: dict) -> str:
    """The markdown and the text outputs of an executed notebook, as one string."""
    parts = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            parts.append("".join(cell["source"]))
        for o in cell.get("outputs", []):
            if "text" in o:
                parts.append("".join(o["text"]))
            for kind in ("text/plain", "text/markdown", "text/html"):
                if kind in o.get("data", {}):
                    parts.append("".join(o["data"][kind]))
    return "\n".join(parts)
