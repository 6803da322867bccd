"""avlib's own source code as data: hashes and import dependencies.

Two things rest on it:

- the train-or-load cache (:func:`avlib.train.train_or_load`): a cached model is keyed by
  its config and by the hash of the avlib files its runner *imports, transitively*
  (:func:`dependencies`), derived from the code rather than listed by hand, so that a
  change to any module the training depends on retrains and a change elsewhere does not;
- the staleness check of the committed chapters (``tests/test_staleness.py``): each
  chapter records the hash of every avlib file (:func:`file_hashes`) in its results JSON,
  and :func:`stale_modules` names the files the chapter depends on
  (:func:`notebook_dependencies`) that changed since it was executed.

Dependencies are found statically with :mod:`ast`: every ``import avlib…`` / ``from avlib…``
/ relative import anywhere in a file (function bodies included), plus the ``__init__.py``
of every package on the way, followed transitively.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import json
from pathlib import Path

PACKAGE = "avlib"
PACKAGE_DIR = Path(__file__).resolve().parent


def _file_of(module: str, root: Path) -> Path | None:
    """``avlib.models.psp`` → ``root/models/psp.py`` (or the package's ``__init__.py``)."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = root.joinpath(*parts[1:])
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _module_of(path: Path, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = [PACKAGE, *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, root: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (``from x import y`` yields x and x.y)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = _module_of(path, root)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names.add(mod)
            names.update(f"{mod}.{a.name}" for a in node.names)
    return {n for n in names if n == PACKAGE or n.startswith(PACKAGE + ".")}


def _closure(modules, root: Path) -> tuple[str, ...]:
    seen: set[Path] = set()
    todo = []
    for m in modules:
        f = _file_of(m, root)
        if f is None:
            raise ValueError(f"no avlib module {m!r} under {root}")
        todo.append(f)
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        mod = _module_of(f, root).split(".")
        for i in range(1, len(mod)):  # the packages on the way are executed on import
            init = _file_of(".".join(mod[:i]), root)
            if init is not None:
                todo.append(init)
        todo.extend(g for g in (_file_of(n, root) for n in _imports(f, root)) if g is not None)
    return tuple(sorted(str(p.relative_to(root)) for p in seen))


@functools.lru_cache(maxsize=None)
def dependencies(*modules: str, root: Path = PACKAGE_DIR) -> tuple[str, ...]:
    """The avlib files (paths relative to the package) that ``modules`` import, transitively.

    ``dependencies("avlib.experiments.psp")`` includes the runner itself, every avlib
    module it imports (also inside functions), theirs, and the packages' ``__init__.py``.
    """
    return _closure(modules, Path(root))


def source_hash(*files: str, root: Path = PACKAGE_DIR) -> str:
    """SHA-256 (first 12 hex digits) of avlib source files.

    With no argument the whole package is hashed; otherwise the given files or folders
    (paths relative to the package, ``"world"``, ``"models/encoders.py"``).
    """
    root = Path(root)
    paths = [root / m for m in files] if files else [root]
    found = []
    for p in paths:
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            found.extend(p.rglob("*.py"))
        elif p.with_suffix(".py").is_file():
            found.append(p.with_suffix(".py"))
        else:
            raise FileNotFoundError(f"no avlib module {p}")
    h = hashlib.sha256()
    for f in sorted(set(found)):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def file_hashes(root: Path = PACKAGE_DIR) -> dict[str, str]:
    """``{relative path: sha256[:12]}`` of every avlib source file (recorded with a chapter's results)."""
    root = Path(root)
    return {str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest()[:12]
            for f in sorted(root.rglob("*.py")) if "__pycache__" not in f.parts}


def notebook_dependencies(path, root: Path = PACKAGE_DIR) -> tuple[str, ...]:
    """The avlib files a notebook's code cells import, transitively (see :func:`dependencies`)."""
    nb = json.loads(Path(path).read_text())
    names: set[str] = set()
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = "\n".join(line for line in "".join(cell["source"]).splitlines()
                        if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{a.name}" for a in node.names)
    root = Path(root)
    mods = [n for n in names if n.split(".")[0] == PACKAGE and _file_of(n, root) is not None]
    return _closure(mods, root)


def stale_modules(recorded: dict[str, str], files, root: Path = PACKAGE_DIR) -> list[str]:
    """The ``files`` whose current hash differs from ``recorded`` (missing on either side counts)."""
    now = file_hashes(root)
    return sorted(f for f in files if recorded.get(f) != now.get(f))
