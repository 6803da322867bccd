"""Measure the built book as a reader's browser lays it out: tables wider than the text column, figures
shrunk below their drawn size, and screenshots of chosen figures at the book's width.

Needs a Chromium and the ``playwright`` Python package, which are not part of the book's lock (a reader
never needs them); install them beside it, e.g. ``apt-get install chromium`` and
``python3 -m venv /tmp/tools && /tmp/tools/bin/pip install playwright``, then, after ``make book``::

    /tmp/tools/bin/python scripts/page_layout.py _build/html --out results/page-layout.json \
        --screenshots results/screenshots

The report lists, per page, every table whose laid-out width exceeds the article column (and by how
much), and every figure with its drawn and displayed width, so that text drawn at 9 pt can be checked
to stay at least 9 pt as shown (displayed / drawn ≥ 1 at 150 dpi drawn for 96 dpi shown ≈ 0.64).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

PAGES = ("book/world", "book/mil", "book/psp", "book/lvs", "book/dsol", "book/scorecard", "book/course")
VIEWPORT = {"width": 1400, "height": 1000}   # a desktop window: the theme's widest article column

MEASURE = """() => {
  const main = document.querySelector('article.bd-article') || document.querySelector('main');
  const cs = getComputedStyle(main);
  const column = main.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  const tables = [...main.querySelectorAll('table')].map((t, i) => {
    const r = t.getBoundingClientRect();
    return {index: i, width: Math.round(Math.max(r.width, t.scrollWidth)),
            caption: (t.closest('figure, .cell_output, .table-wrapper')?.id || t.id || '') };
  });
  const figures = [...main.querySelectorAll('img')].map((im, i) => ({
    index: i, natural: im.naturalWidth, shown: Math.round(im.getBoundingClientRect().width),
    id: (im.closest('figure')?.id || ''), alt: (im.alt || '').slice(0, 80)}));
  return {column: Math.round(column), tables, figures};
}"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("html", type=Path, help="the built book (_build/html)")
    ap.add_argument("--out", type=Path, default=Path("results/page-layout.json"))
    ap.add_argument("--screenshots", type=Path, default=None, help="folder for one JPEG per figure")
    ap.add_argument("--only", nargs="*", default=None, help="screenshot only figures whose id contains one of these")
    ap.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    args = ap.parse_args(argv)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("page_layout.py needs playwright (not in the lock): see its docstring", file=sys.stderr)
        return 2
    if not args.chromium:
        print("no chromium found: install one (apt-get install chromium) or pass --chromium", file=sys.stderr)
        return 2
    report = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
        for name in PAGES:
            path = args.html / f"{name}.html"
            if not path.exists():
                continue
            page.goto(path.resolve().as_uri())
            page.wait_for_load_state("load")
            m = page.evaluate(MEASURE)
            wide = [t for t in m["tables"] if t["width"] > m["column"] + 1]
            report[name] = {"column": m["column"], "tables": len(m["tables"]), "wide_tables": wide,
                            "figures": m["figures"]}
            print(f"{name}: column {m['column']} px, {len(m['tables'])} tables, {len(wide)} wider "
                  f"({', '.join(str(t['width']) for t in wide)}), {len(m['figures'])} figures")
            if args.screenshots:
                args.screenshots.mkdir(parents=True, exist_ok=True)
                # the theme's sticky header and skip link would cover a tall figure's top in the screenshot
                page.add_style_tag(content=".bd-header, .skip-link, .bd-header-article { display: none !important; }")
                for fig in page.query_selector_all("article figure[id]"):
                    fid = fig.get_attribute("id")
                    if args.only is not None and not any(o in fid for o in args.only):
                        continue
                    fig.scroll_into_view_if_needed()
                    fig.screenshot(path=str(args.screenshots / f"{Path(name).name}-{fid}.jpg"), type="jpeg", quality=80)
        browser.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
