"""Write the student copies of the chapters: `make student` (or ``python scripts/student.py OUT_DIR``).

Each chapter (book/world, mil, psp, lvs, dsol) is written to ``OUT_DIR/<chapter>.ipynb`` with every cell
tagged ``solution`` replaced: a code cell becomes the stub ``# Your solution for exercise N`` (tagged
``exercise-stub`` instead of ``solution``), a markdown answer cell is removed. All outputs are cleared and
execution counts reset; every other cell is kept exactly as it is. Exercise N is the N-th solution code
cell of the chapter. A chapter without solution cells is copied with its outputs cleared.
"""
from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = ("world", "mil", "psp", "lvs", "dsol")
SOLUTION, STUB = "solution", "exercise-stub"


def is_solution(cell: dict) -> bool:
    return SOLUTION in cell.get("metadata", {}).get("tags", [])


def student_copy(nb: dict) -> dict:
    """The student copy of one notebook (a new dict; ``nb`` is not changed)."""
    out = copy.deepcopy(nb)
    cells, exercise = [], 0
    for cell in out["cells"]:
        if is_solution(cell):
            if cell["cell_type"] != "code":
                continue                                   # an answer: removed
            exercise += 1
            tags = [t for t in cell["metadata"].get("tags", []) if t != SOLUTION]
            cell["metadata"]["tags"] = [STUB] + [t for t in tags if t != STUB]
            cell["source"] = f"# Your solution for exercise {exercise}\n"
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cells.append(cell)
    out["cells"] = cells
    return out


def write(nb: dict, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(nb, f, indent=1, ensure_ascii=False)
        f.write("\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", type=Path, help="where the student notebooks go (e.g. _build/student)")
    ap.add_argument("--book", type=Path, default=BOOK, help="the folder of the instructor's chapters")
    args = ap.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name in CHAPTERS:
        nb = json.loads((args.book / f"{name}.ipynb").read_text(encoding="utf-8"))
        student = student_copy(nb)
        stubs = sum(STUB in c["metadata"].get("tags", []) and not is_solution(c) for c in student["cells"])
        write(student, args.out_dir / f"{name}.ipynb")
        print(f"{args.out_dir / (name + '.ipynb')}: {stubs} exercise stub(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
