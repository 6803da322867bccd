"""The environment is the lock: pyproject's ranges are satisfied by ``lock/requirements.txt``, the
running Python has exactly the locked versions, and provenance records both."""
import re

import pytest

from avlib import environment as env
from avlib.repro import format_provenance, provenance


def test_lock_satisfies_pyproject():
    problems = env.lock_problems()
    assert not problems, ("pyproject.toml changed without re-locking (run `make lock`, then `make venv` and "
                          "re-execute the chapters):\n  " + "\n  ".join(problems))


def test_running_environment_is_the_lock():
    drift = env.environment_drift()
    assert not drift, ("this Python differs from lock/requirements.txt (run `make venv`, which installs the "
                       "lock exactly):\n  " + "\n  ".join(drift))


def _copy_with(tmp_path, old, new):
    text = env.PYPROJECT_PATH.read_text()
    assert old in text, f"{old!r} not in pyproject.toml: update this test"
    path = tmp_path / "pyproject.toml"
    path.write_text(text.replace(old, new))
    return path


def test_a_hand_edited_range_is_caught_and_named(tmp_path):
    numpy = env.locked_versions(env.read_lock())["numpy"]
    edited = _copy_with(tmp_path, '"numpy>=1.26,<3"', f'"numpy>{numpy}"')
    assert env.lock_problems(pyproject=edited) == [f"numpy>{numpy} but the lock pins numpy=={numpy}"]


def test_a_requirement_added_without_relocking_is_caught(tmp_path):
    edited = _copy_with(tmp_path, '"psutil>=5.9",', '"psutil>=5.9",\n  "not-a-locked-package>=1",')
    assert env.lock_problems(pyproject=edited) == ["not-a-locked-package>=1 is not in the lock"]


def test_an_extra_is_checked_too(tmp_path):
    edited = _copy_with(tmp_path, '"pytest>=8",', '"pytest<1",')
    problems = env.lock_problems(pyproject=edited)
    assert len(problems) == 1 and problems[0].startswith("pytest<1 but the lock pins pytest==")


def test_read_lock_markers_and_hashes(tmp_path):
    lock = tmp_path / "requirements.txt"
    lock.write_text("# header\nfoo==1.2 \\\n    --hash=sha256:ab \\\n    --hash=sha256:cd\n    # via bar\n"
                    "Bar_Baz==2.0 ; sys_platform == 'never' \\\n    --hash=sha256:ef\n")
    pins = env.read_lock(lock)
    assert pins == [env.Pin("foo", "1.2"), env.Pin("bar-baz", "2.0", "sys_platform == 'never'")]
    assert env.locked_versions(pins) == {"foo": "1.2"}
    assert env.lock_hash(lock) == env.lock_hash(lock) and len(env.lock_hash(lock)) == 12
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(ValueError, match="not a lock file"):
        env.read_lock(tmp_path / "empty.txt")
    with pytest.raises(FileNotFoundError, match="make lock"):
        env.read_lock(tmp_path / "missing.txt")


def test_drift_names_the_packages(tmp_path):
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"numpy==0.0.1\npytest=={env.installed_version('pytest')}\nnot-installed-pkg==1.0\n")
    assert env.environment_drift(lock) == [f"not-installed-pkg: not installed (lock: 1.0)",
                                           f"numpy: {env.installed_version('numpy')} installed, lock: 0.0.1"]


def test_provenance_names_the_environment():
    info = provenance("smoke", "cpu", [0])
    record = info["environment"]
    assert record["lock_hash"] == env.lock_hash() and record["matches_lock"] is True
    assert set(record["packages"]) == set(env.NUMERIC_PACKAGES)
    locked = env.locked_versions(env.read_lock())
    for name, version in record["packages"].items():
        assert version == locked[env.canonicalize_name(name)], name
    text = format_provenance(info)
    assert re.search(rf"lock\s+: {record['lock_hash']}", text) and f"numpy {locked['numpy']}" in text
