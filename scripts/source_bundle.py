"""Write the book's source bundle: what a reader of the static site needs to run every chapter.

    python scripts/source_bundle.py _build/html/avbook-source.zip

`make book` runs it after building the HTML, so every page's footer can link the bundle. It holds
avlib, the chapters (notebooks and pages), the lock and pyproject, the Makefile, the README and
its data layouts, the tests and scripts, the book's configuration and the licence: unzip it, then
`make book` and `make test` (the README's two commands) install the locked environment and run.
The zip is deterministic: sorted entries, fixed timestamps, so the same sources give the same bytes.
"""
from __future__ import annotations

import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: files and folders (relative to the repository) that go into the bundle
INCLUDE = ("avlib", "book", "lock", "tests", "scripts", "benchmarks", "data/README.md", "results",
           "pyproject.toml", "Makefile", "README.md", "CONTRIBUTING.md", "LICENSE", "environment.yml",
           "_config.yml", "_toc.yml", "references.bib", ".ci/run")
SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", "_build"}
STAMP = (2026, 1, 1, 0, 0, 0)


def files() -> list[Path]:
    """Every bundled file, sorted, relative to the repository root."""
    out = []
    for name in INCLUDE:
        p = ROOT / name
        if not p.exists():
            raise FileNotFoundError(f"{p} is missing: the bundle would not run")
        found = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file())
        out += [q.relative_to(ROOT) for q in found if not SKIP_PARTS & set(q.parts)]
    return sorted(set(out))


def write(target) -> Path:
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for rel in files():
            info = zipfile.ZipInfo(f"avbook/{rel.as_posix()}", STAMP)
            info.external_attr = ((ROOT / rel).stat().st_mode & 0o777) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, (ROOT / rel).read_bytes())
    return target


if __name__ == "__main__":
    print(write(sys.argv[1] if len(sys.argv) > 1 else ROOT / "_build" / "html" / "avbook-source.zip"))
