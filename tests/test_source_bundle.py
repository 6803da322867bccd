"""The book links a source bundle (``make book`` writes it beside the HTML): it must hold what the README's
two commands need, and the same sources must give the same bytes."""
import importlib.util
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("source_bundle", ROOT / "scripts" / "source_bundle.py")
BUNDLE = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(BUNDLE)


def test_the_bundle_holds_what_make_book_and_make_test_need(tmp_path):
    path = BUNDLE.write(tmp_path / "a.zip")
    names = set(zipfile.ZipFile(path).namelist())
    for need in ("Makefile", "pyproject.toml", "lock/requirements.txt", "lock/build.txt", "README.md", "LICENSE",
                 "avlib/__init__.py", "avlib/metrics/fused.py", "book/psp.ipynb", "book/intro.md", "_toc.yml",
                 "_config.yml", "references.bib", "tests/test_lock.py", "scripts/strip_progress.py", ".ci/run"):
        assert f"avbook/{need}" in names, need
    assert not any("__pycache__" in n or n.startswith("avbook/_build") or n.startswith("avbook/.venv") for n in names)
    assert path.read_bytes() == BUNDLE.write(tmp_path / "b.zip").read_bytes()


def test_every_page_and_the_landing_page_link_it():
    config = (ROOT / "_config.yml").read_text()
    assert 'href="../avbook-source.zip"' in config and "make book" in config and "MIT" in config
    assert 'href="../avbook-source.zip"' in (ROOT / "book" / "intro.md").read_text()
    assert "scripts/source_bundle.py _build/html/avbook-source.zip" in (ROOT / "Makefile").read_text()
