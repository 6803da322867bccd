"""The book shows numbers of the code that exists: each committed chapter was executed with the
current version of every avlib file it depends on (imports, transitively), in the locked environment."""
import json
import re
from pathlib import Path

import pytest

from avlib.environment import canonicalize_name, locked_versions, read_lock
from avlib.sources import notebook_dependencies, stale_modules

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ("world", "mil", "psp", "lvs", "dsol")


def _printed_hash(nb: dict) -> str | None:
    """The avlib source hash printed by the chapter's last (provenance) cell."""
    text = "".join("".join(o.get("text", "")) for o in nb["cells"][-1].get("outputs", []))
    m = re.search(r"avlib_source_hash\s*:\s*([0-9a-f]{12})", text)
    return m.group(1) if m else None


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_committed_chapter_was_executed_with_the_current_avlib(chapter):
    nb_path = ROOT / "book" / f"{chapter}.ipynb"
    res_path = ROOT / "results" / f"{chapter}-book.json"
    assert res_path.exists(), (f"{res_path.name} missing: re-execute the chapter at book scale "
                               f"(make reproduce CHAPTER={chapter}); its provenance cell writes it")
    prov = json.loads(res_path.read_text())["provenance"]
    nb = json.loads(nb_path.read_text())
    assert prov["scale"] == "book"
    assert _printed_hash(nb) == prov["avlib_source_hash"], (
        f"book/{chapter}.ipynb and {res_path.name} come from different executions: re-execute the chapter")
    changed = stale_modules(prov["avlib_files"], notebook_dependencies(nb_path))
    assert not changed, (f"book/{chapter}.ipynb was executed with another version of {', '.join(changed)}: "
                         f"re-execute it (make reproduce CHAPTER={chapter}) and commit it with the change")


@pytest.mark.parametrize("chapter", CHAPTERS + ("scorecard",))
def test_committed_results_were_computed_in_the_locked_environment(chapter):
    res_path = ROOT / "results" / f"{chapter}-book.json"
    if chapter == "scorecard":  # the dashboard writes no results file: its provenance cell prints it
        nb = json.loads((ROOT / "book" / "scorecard.ipynb").read_text())
        text = "".join("".join(o.get("text", "")) for o in nb["cells"][-1].get("outputs", []))
        assert re.search(r"matches_lock\s*:\s*True", text), (
            "book/scorecard.ipynb was not executed in the locked environment: make venv, then make reproduce")
        return
    prov = json.loads(res_path.read_text())["provenance"]
    env = prov.get("environment")
    assert env is not None, f"{res_path.name} records no environment: re-execute the chapter (make reproduce)"
    locked = locked_versions(read_lock())
    moved = [f"{name} {have} (lock: {locked.get(canonicalize_name(name))})"
             for name, have in env["packages"].items() if have != locked.get(canonicalize_name(name))]
    assert env["matches_lock"] and not moved, (
        f"book/{chapter}.ipynb was executed under versions other than the lock's: {', '.join(moved) or 'see '}"
        f"{'' if moved else 'matches_lock'}; re-execute it (make reproduce CHAPTER={chapter})")
