"""Cache keys follow the code: dependencies derived from imports, misses on a changed dependency only."""
import shutil

import torch

from avlib.sources import PACKAGE_DIR, dependencies, file_hashes, notebook_dependencies, source_hash, stale_modules
from avlib.train import train_or_load


def _copy_package(tmp_path):
    root = tmp_path / "avlib"
    shutil.copytree(PACKAGE_DIR, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_dependencies_follow_imports_transitively():
    deps = dependencies("avlib.experiments.psp")
    # the runner, what it imports directly, what those import, and the packages on the way
    for f in ("experiments/psp.py", "models/psp.py", "losses.py", "train.py", "features.py",
              "world/sounds.py", "world/__init__.py", "models/__init__.py", "__init__.py"):
        assert f in deps, f
    assert "models/dsol.py" not in deps and "experiments/lvs.py" not in deps
    assert "models/lvs.py" in dependencies("avlib.experiments.dsol")  # imported inside a function body too


def test_no_runner_carries_the_verdict_rule_or_the_chapters_diagnoses_in_its_cache_key():
    """Judging claims, rendering them and measuring trained models change no trained model: a change to
    the scorecard, its readings, the seed rule, the operating-point table or the LVS diagnosis retrains
    nothing (a runner formats its seeds with avlib.summary)."""
    judged = {"scorecard.py", "readings.py", "seed_rule.py", "scorecard_view.py", "operating_point.py",
              "experiments/lvs_diagnosis.py"}
    for runner in ("mil", "psp", "lvs", "dsol"):
        assert not judged & set(dependencies(f"avlib.experiments.{runner}")), runner
    assert "summary.py" in dependencies("avlib.experiments.dsol")


def _toy_key(root, tmp_path, calls):
    def train(model):
        calls.append(1)
        return {}
    modules = dependencies("avlib.experiments.psp", root=root)
    _, _, hit = train_or_load("toy", {"a": 1}, lambda: torch.nn.Linear(1, 1), train,
                              cache_dir=tmp_path / "cache", modules=modules, root=root)
    return hit


def test_cache_misses_when_a_dependency_changes_and_hits_otherwise(tmp_path):
    root = _copy_package(tmp_path)
    calls = []
    assert _toy_key(root, tmp_path, calls) is False
    assert _toy_key(root, tmp_path, calls) is True
    # a module the PSP runner does not import: still a hit
    with open(root / "models" / "dsol.py", "a") as f:
        f.write("\n# unrelated change\n")
    assert _toy_key(root, tmp_path, calls) is True
    # a transitive dependency (world sounds, imported through features → world): a miss
    with open(root / "world" / "sounds.py", "a") as f:
        f.write("\n# changed dependency\n")
    assert _toy_key(root, tmp_path, calls) is False
    assert len(calls) == 2


def test_stale_modules_names_the_changed_files(tmp_path):
    root = _copy_package(tmp_path)
    recorded = file_hashes(root)
    files = dependencies("avlib.experiments.lvs", root=root)
    assert stale_modules(recorded, files, root) == []
    with open(root / "models" / "lvs.py", "a") as f:
        f.write("\n# edit\n")
    with open(root / "models" / "mil.py", "a") as f:
        f.write("\n# edit outside the chapter's dependencies\n")
    assert stale_modules(recorded, files, root) == ["models/lvs.py"]
    assert source_hash("models/lvs.py", root=root) != source_hash("models/lvs.py")


def test_notebook_dependencies_read_the_imports_of_code_cells(tmp_path):
    import json
    nb = {"cells": [{"cell_type": "markdown", "source": ["from avlib import world"]},
                    {"cell_type": "code", "source": ["%matplotlib inline\n", "from avlib.metrics import localization\n",
                                                     "import avlib.experiments.lvs as ex\n"]}]}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    deps = notebook_dependencies(path)
    assert "metrics/localization.py" in deps and "experiments/lvs.py" in deps and "models/lvs.py" in deps
    assert "models/dsol.py" not in deps
