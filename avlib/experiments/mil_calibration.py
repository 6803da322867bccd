"""The MIL chapter's world calibration: the ``weak_multilabel`` world set where the paper's baselines were.

:func:`calibrate_world` bisects two world knobs (:data:`avlib.calibration.CALIBRATIONS` ``["mil"]``)
until the TS audio-only and TS video-only baselines of Parekh et al. (2018), Table 1, land on the
paper's F1. The search renders its own train / val / test worlds from a world seed
:data:`SEED_OFFSET` above the chapter's, so no clip it measures on is one of the book's, and the
chapter's operating-point table is an independent check. The audio-visual systems, whose claims
the chapter judges, are never trained by it.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..calibration import CALIBRATIONS, bisect_knobs
from ..sources import dependencies
from ..train import DEFAULT_CACHE, config_key
from .mil import extract_features, make_splits, run_grid

MODULES = dependencies(__name__)
SEED_OFFSET = 1000   # the calibration worlds' seeds: the chapter's world seed + 1000, + 1001, + 1002
SIZES = ("n_train", "n_val", "n_test")   # the split sizes a calibration step renders


def world_knobs(values: dict) -> dict:
    """The ``weak_multilabel`` keyword arguments for calibrated knob values."""
    out = {}
    for k in CALIBRATIONS["mil"]["knobs"]:
        out.update(k.kwargs(values[k.name]))
    return out


def _knob_key(k) -> dict:
    """What identifies a knob in the cache key (its ``world`` function is covered by the source hash)."""
    return {"name": k.name, "measure": k.measure, "low": k.low, "high": k.high, "increasing": k.increasing}


def search_settings(cfg: dict) -> dict:
    """The chapter's settings with the calibration's split sizes and world seed."""
    cal = cfg["calibration"]
    return {**cfg, **{k: cal[k] for k in SIZES}, "world_seed": cfg["world_seed"] + SEED_OFFSET}


def calibration_key(cfg: dict, encoders_key: str, tolerances: dict) -> str:
    """The cache key of a calibration: its settings, targets, tolerances, knobs, encoders and the source."""
    spec = CALIBRATIONS["mil"]
    return config_key({"cfg": search_settings(cfg), "steps": cfg["calibration"]["steps"], "targets": spec["targets"],
                       "tolerances": tolerances, "knobs": [_knob_key(k) for k in spec["knobs"]],
                       "enc": encoders_key}, MODULES)


def baseline_f1(ccfg: dict, encoders, knobs: dict, systems, cache_dir, device="cpu", workers: int | None = None,
                progress: bool = True) -> dict:
    """One calibration step: test micro F1 (%) of ``systems`` (seed 0) on train / val / test worlds rendered
    at the settings ``ccfg`` (:func:`search_settings`) with the world keyword arguments ``knobs``."""
    splits = make_splits(ccfg, None, **knobs)
    feats = {s: extract_features(t, encoders, ccfg, cache_dir, desc=f"calibration features {s}" if progress else False)
             for s, t in splits.items()}
    res = run_grid(feats, ccfg, systems=list(systems), seeds=[0], cache_dir=cache_dir, keep=("", -1), device=device,
                   workers=workers)["results"]
    return {name: 100 * res[name][0]["f1"] for name in systems}


def calibrate_world(cfg: dict, encoders, tolerances: dict, device="cpu", cache_dir=None) -> dict:
    """Bisect the world's audio SNR and off-screen rate until the TS audio-only and TS video-only
    baselines land on the paper's Table 1 F1; cached by the settings and the source.

    Each step renders train / val / test at ``cfg["calibration"]`` sizes (world seed + :data:`SEED_OFFSET`)
    with the midpoint knobs, extracts features and trains the two baselines with seed 0 (model
    selection and thresholds on the calibration's validation split, F1 on its test split); the
    world's defaults are measured the same way first (``default``). Returns the chosen ``knobs``
    (world keyword arguments), their ``values``, the search ``history`` (one row per step),
    ``default``, ``targets``, ``tolerances`` and the split ``sizes``.
    """
    spec, cal = CALIBRATIONS["mil"], cfg["calibration"]
    ccfg = search_settings(cfg)
    targets = spec["targets"]
    cache_dir = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
    path = cache_dir / f"mil-calibration-{calibration_key(cfg, encoders.key, tolerances)}.json"
    if path.exists():
        out = json.loads(path.read_text())
        return {**out, "knobs": world_knobs(out["values"])}  # tuples, as a fresh search returns them

    def evaluate(values, knobs=None):
        return baseline_f1(ccfg, encoders, world_knobs(values) if knobs is None else knobs, targets, cache_dir, device)

    from ..world.multilabel import MultilabelConfig
    base = MultilabelConfig()
    default = {"snr_shift": float(base.snr_db[0]), "p_visual_missing": float(base.p_visual_missing),
               **evaluate(None, knobs={})}
    values, history = bisect_knobs(evaluate, spec["knobs"], targets, tolerances, steps=cal["steps"])
    out = {"knobs": world_knobs(values), "values": values, "history": history, "default": default,
           "targets": targets, "tolerances": tolerances, "world_seed": ccfg["world_seed"],
           "sizes": {k: ccfg[k] for k in SIZES}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    return out
