"""`make student` (scripts/student.py): the student copies hide every solution, keep every other cell
exactly, and the world chapter's student copy still runs end to end at smoke scale."""
import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHAPTERS = ("world", "mil", "psp", "lvs", "dsol")


def tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def src(cell):
    s = cell["source"]
    return s if isinstance(s, str) else "".join(s)


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "student.py"), str(out)], check=True,
                   capture_output=True, text=True)
    return out


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_student_copy_hides_solutions_and_keeps_the_rest(student_dir, chapter):
    teacher = json.loads((BOOK / f"{chapter}.ipynb").read_text())
    student = json.loads((student_dir / f"{chapter}.ipynb").read_text())
    solutions = [c for c in teacher["cells"] if "solution" in tags(c)]
    solution_code = [c for c in solutions if c["cell_type"] == "code"]
    # no solution left: no tag, no solution source, no answer text
    assert not any("solution" in tags(c) for c in student["cells"])
    stubs = [c for c in student["cells"] if "exercise-stub" in tags(c)]
    assert len(stubs) == len(solution_code)          # one stub per solution code cell (zero for a chapter without)
    for n, c in enumerate(stubs, 1):
        assert c["cell_type"] == "code" and src(c).strip() == f"# Your solution for exercise {n}"
    shown = "\n".join(src(c) for c in student["cells"])
    for c in solutions:
        if c["cell_type"] == "markdown":
            assert src(c).strip() not in shown, "an answer cell survived"
        for line in src(c).splitlines():
            if len(line.strip()) > 30 and not line.strip().startswith("#"):
                assert line not in shown, f"solution code survived: {line!r}"
    # outputs cleared everywhere
    for c in student["cells"]:
        if c["cell_type"] == "code":
            assert c["outputs"] == [] and c["execution_count"] is None
    # every other cell identical (source, type, metadata, id), in order
    kept_teacher = [c for c in teacher["cells"] if "solution" not in tags(c)]
    kept_student = [c for c in student["cells"] if "exercise-stub" not in tags(c)]
    assert len(kept_teacher) == len(kept_student)
    for a, b in zip(kept_teacher, kept_student):
        assert (a["cell_type"], src(a), a.get("metadata"), a.get("id")) == \
               (b["cell_type"], src(b), b.get("metadata"), b.get("id"))
    assert student["metadata"] == teacher["metadata"]


def _python(cell) -> str:
    """A code cell's source as Python (IPython magics and shell lines dropped)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in src(cell).splitlines())


def _defined(tree) -> set:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _used(tree) -> set:
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_chapter_cell_needs_a_name_from_a_solution(chapter):
    cells = [c for c in json.loads((BOOK / f"{chapter}.ipynb").read_text())["cells"] if c["cell_type"] == "code"]
    trees = [ast.parse(_python(c)) for c in cells]
    is_sol = ["solution" in tags(c) for c in cells]
    from_solutions = set().union(*[_defined(t) for t, s in zip(trees, is_sol) if s]) if any(is_sol) else set()
    from_chapter = set().union(*[_defined(t) for t, s in zip(trees, is_sol) if not s])
    only_solutions = from_solutions - from_chapter
    if not any(is_sol):
        return
    first = is_sol.index(True)
    for k in range(first + 1, len(cells)):
        if not is_sol[k]:
            needed = _used(trees[k]) & only_solutions
            assert not needed, f"{chapter} code cell {k} uses {sorted(needed)}, defined only in a solution"


def test_the_world_student_copy_runs_at_smoke(student_dir, tmp_path, monkeypatch):
    """In a copy of the layout (book/ and results/ side by side), so that the chapter's ``../results``
    lands in tmp_path; models and features come from (or go to) the usual cache, data/cache."""
    import papermill
    book = tmp_path / "book"
    book.mkdir()
    shutil.copy(student_dir / "world.ipynb", book / "world.ipynb")
    (tmp_path / "results").mkdir()
    committed = ROOT / "results" / "world-smoke.json"
    before = committed.stat().st_mtime_ns if committed.exists() else None
    monkeypatch.setenv("AVLIB_SCALE", "smoke")
    papermill.execute_notebook(str(book / "world.ipynb"), str(tmp_path / "executed.ipynb"), cwd=str(book),
                               kernel_name="python3", progress_bar=False)
    executed = json.loads((tmp_path / "executed.ipynb").read_text())
    assert not any(o["output_type"] == "error" for c in executed["cells"] for o in c.get("outputs", []))
    assert (tmp_path / "results" / "world-smoke.json").exists()
    after = committed.stat().st_mtime_ns if committed.exists() else None
    assert before == after, "the test wrote into the repository's results/"
