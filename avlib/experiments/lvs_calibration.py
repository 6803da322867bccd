"""The LVS chapter's world calibration: the two test sets' object scale set on the paper's baseline.

Trained to the book's schedule, the Attention10k-style baseline on the large training set localizes
the world's default Flickr-like and VGG-SS-like test sources better than on the real test sets
(cIoU about 0.89 vs the paper's 0.660 on Flickr, Table 1; 0.25 vs 0.185 on VGG-SS, Table 2).
Under the official top-50 % rule the source's size is what sets the difficulty (a prediction is
half the image, so cIoU ≥ 0.5 needs a source of at least a quarter of it; the chapter's first
exercise shows it), so :func:`calibrate_world` bisects each test set's object scale until that
baseline lands on the paper's number. The training set is not touched: the models a claim rests
on see the same training scenes as before, only the tests get harder.

The Flickr10k-like row (the small training set, paper 0.436) is reported at every step, not
searched on: no test knob separates it from the large-set row, which it trails by far more than
the paper's 0.224 (our 200 clips are overfitted by the schedule that the large set needs; the
chapter's learning curves show it), so a search steering by both would stop between them.

The search renders its own worlds (every split's seed + :data:`SEED_OFFSET`) and trains only the
baseline, never LVS, whose claims the chapter judges.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..calibration import Knob, bisect_knobs
from ..repro import pick
from ..sources import dependencies
from ..train import DEFAULT_CACHE, config_key
from .lvs import KNOBS, evaluate, subset, train_one, world_split

MODULES = dependencies(__name__)
SEED_OFFSET = 1000   # the calibration worlds' split seeds are the chapter's + 1000
SCALE_WIDTH = 0.25   # the width of a test set's object-scale range (the defaults: 0.55–0.8, 0.4–0.65)
#: Chen et al. (2021): Attention10k trained on Flickr144k, tested on Flickr-SoundNet (Table 1) and VGG-SS (Table 2)
TARGETS = {"Attention10k, Flickr, large training": 0.660, "Attention10k, VGG-SS, large training": 0.185}
#: reported at every step, not searched on (see the module notes): Table 1, Attention10k trained on Flickr10k
REPORTED = {"Attention10k, Flickr, small training": 0.436}
#: each target's test set and training split
MEASURES = {"Attention10k, Flickr, large training": ("flickr", "large"),
            "Attention10k, VGG-SS, large training": ("vggss", "large"),
            "Attention10k, Flickr, small training": ("flickr", "small")}


def test_scale(low: float) -> dict:
    """A test set's knobs for an object-scale range starting at ``low`` (× the image's side)."""
    return {"scale": (round(float(low), 4), round(float(low) + SCALE_WIDTH, 4))}


KNOBS_SEARCHED = (Knob("flickr_scale", "Attention10k, Flickr, large training", 0.3, 0.55, increasing=True,
                       world=lambda v: {"flickr": test_scale(v)}),
                  Knob("vggss_scale", "Attention10k, VGG-SS, large training", 0.25, 0.5, increasing=True,
                       world=lambda v: {"vggss": test_scale(v)}))
#: the world chapter's row (the same fields as :data:`avlib.calibration.CALIBRATIONS`' entries)
CALIBRATION = {
    "world": "single_source",
    "paper": "Chen et al. (2021), Tables 1–2 (cIoU): Attention10k trained on the large set, Flickr and VGG-SS; "
             "the small set reported",
    "targets": {**TARGETS, **REPORTED},
    "knobs": KNOBS_SEARCHED,
    "how": ("searched: bisect_knobs on each test set's object scale (a range 0.25 wide), the training scenes "
            "unchanged, Attention10k-style trained on the large set with the book's schedule, seeds 0–2, worlds of "
            "seed + 1000 (avlib.experiments.lvs_calibration.calibrate_world); the small-set row is reported"),
    "why": ("under the top-50 % rule the source's size sets the difficulty, and the world's default test sources "
            "(55–80 % and 40–65 % of the side) were larger than the baseline's numbers on the real test sets imply"),
}


def search_settings(scale: str) -> dict:
    """Steps and seeds of the search per scale."""
    return {"steps": pick(scale, smoke=1, book=4, paper=4), "seeds": pick(scale, smoke=(0,), book=(0, 1, 2), paper=(0, 1))}


def test_knobs(values: dict) -> dict:
    """``{"flickr": {...}, "vggss": {...}}``: the test sets' knobs for the searched values."""
    out = {}
    for k in KNOBS_SEARCHED:
        out.update(k.kwargs(values[k.name]))
    return out


def default_values() -> dict:
    """The knobs' values at the world's defaults (:data:`avlib.experiments.lvs.KNOBS`; the search's row 0)."""
    return {"flickr_scale": float(KNOBS["flickr"]["scale"][0]), "vggss_scale": float(KNOBS["vggss"]["scale"][0])}


def calibration_key(scale: str, cfg: dict, tolerances: dict, encoders_key) -> str:
    """The cache key of a calibration: the chapter's settings, the search's, targets, tolerances, knobs and the source."""
    knobs = [{"name": k.name, "measure": k.measure, "low": k.low, "high": k.high} for k in KNOBS_SEARCHED]
    return config_key({"scale": scale, "cfg": {k: v for k, v in cfg.items() if k != "seeds"},
                       "search": search_settings(scale), "targets": TARGETS, "reported": REPORTED,
                       "tolerances": tolerances, "knobs": knobs, "width": SCALE_WIDTH, "world_seed": SEED_OFFSET,
                       "enc": encoders_key}, MODULES)


def calibrate_world(scale: str, cfg: dict, tolerances: dict, encoders, device="cpu", cache_dir=None) -> dict:
    """Bisect the Flickr-like and VGG-SS-like test sets' object scale until Attention10k-style, trained on
    the large set, lands on the paper's Tables 1–2; cached by the settings and the source.

    The baseline is trained once per seed (train-or-load) on a calibration world's training split and
    its small prefix (split seeds + :data:`SEED_OFFSET`, the chapter's sizes, schedule and model
    selection on a validation split of that world); each step
    renders the two test sets with the midpoint knobs and measures cIoU (success at 0.5, the top-50 %
    rule); the world's defaults are measured first (``default``). Returns the chosen ``knobs``
    (``{"flickr": ..., "vggss": ...}``), ``values``, the search ``history`` (one row per step, the small
    set's row included), ``default``, ``targets`` and ``tolerances``.
    """
    missing = set(TARGETS) - set(tolerances)
    if missing:
        raise ValueError(f"no tolerance for the calibration targets {sorted(missing)}")
    search = search_settings(scale)
    cache_dir = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
    path = cache_dir / f"lvs-calibration-{calibration_key(scale, cfg, tolerances, getattr(encoders, 'key', None))}.json"
    if path.exists():
        out = json.loads(path.read_text())
        return {**out, "knobs": test_knobs(out["values"])}   # tuples, as a fresh search returns them
    large = world_split("train", cfg["n_large"], cfg, encoders, seed_offset=SEED_OFFSET, cache_dir=cache_dir)
    train = {"large": large, "small": subset(large, cfg["n_small"])}
    val = world_split("val", cfg["n_val"], cfg, encoders, seed_offset=SEED_OFFSET, cache_dir=cache_dir)
    models = {(size, s): train_one("attention10k", train[size], s, cfg, device, val=val)[0]   # selected as the chapter's
              for size in ("large", "small") for s in search["seeds"]}

    def evaluate_at(values):
        knobs = test_knobs(values)
        tests = {kind: world_split(kind, cfg[f"n_{kind}"], cfg, encoders, knobs=knobs[kind], seed_offset=SEED_OFFSET,
                                   cache_dir=cache_dir) for kind in ("flickr", "vggss")}
        return {name: float(np.mean([evaluate(models[(size, s)], tests[test], cfg)["ciou"] for s in search["seeds"]]))
                for name, (test, size) in MEASURES.items()}

    default = {**default_values(), **evaluate_at(default_values())}
    values, history = bisect_knobs(evaluate_at, KNOBS_SEARCHED, TARGETS, tolerances, steps=search["steps"])
    out = {"knobs": test_knobs(values), "values": values, "history": history, "default": default,
           "targets": TARGETS, "reported": REPORTED, "tolerances": tolerances, "world_seed": SEED_OFFSET}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    return out
