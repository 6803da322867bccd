"""The PSP chapter's world calibration: the ``events`` world set where the paper's baselines were.

Trained to convergence, the baselines of Zhou et al. (2021) — the model without PSP and AVEL,
fully supervised — reach far higher accuracy on the world's default ``events`` videos than on
AVE. :func:`calibrate_world` bisects the world knobs of :data:`avlib.calibration.CALIBRATIONS`
``["psp"]`` until those baselines land on the paper's Tables 1–2. The search renders its own
worlds (world seed :data:`SEED_OFFSET`, the chapter's is 0), so no video it measures on is one of
the book's, and the chapter's operating-point table is an independent check. PSP itself, whose
claims the chapter judges, is never trained by it.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..calibration import CALIBRATIONS, bisect_knobs
from ..sources import dependencies
from ..train import DEFAULT_CACHE, config_key
from .psp import grid, load_data

MODULES = dependencies(__name__)
SEED_OFFSET = 1000   # the calibration world's seed (the chapter's world has seed 0)
#: the baseline rows the search trains (Table 1's w/o PSP and Table 2's AVEL with L_ce, fully supervised)
ROWS = {"w/o PSP, fully": {"variant": "w/o PSP", "setting": "full"},
        "AVEL, fully": {"variant": "AVEL", "setting": "full", "lam": 0.0}}


def world_knobs(values: dict) -> dict:
    """The ``events`` keyword arguments for calibrated knob values."""
    out = {}
    for k in CALIBRATIONS["psp"]["knobs"]:
        out.update(k.kwargs(values[k.name]))
    return out


def default_values() -> dict:
    """The knob values of the world's defaults (the search's row 0)."""
    from ..world.events import EventsConfig
    return {"snr_shift": float(EventsConfig().snr_db[0])}


def calibration_key(scale: str, hp: dict, encoders_key: str, tolerances: dict) -> str:
    """The cache key of a calibration: the settings, targets, tolerances, knobs, encoders and the source."""
    spec = CALIBRATIONS["psp"]
    knobs = [{"name": k.name, "measure": k.measure, "low": k.low, "high": k.high, "increasing": k.increasing}
             for k in spec["knobs"]]
    return config_key({"scale": scale, "hp": hp, "targets": spec["targets"], "tolerances": tolerances,
                       "knobs": knobs, "rows": ROWS, "world_seed": SEED_OFFSET, "enc": encoders_key}, MODULES)


def calibrate_world(scale: str, hp: dict, tolerances: dict, device="cpu", cache_dir=None,
                    progress: bool = False) -> dict:
    """Bisect the world's audio SNR until the converged w/o-PSP baseline lands on the paper's Table 1
    (AVEL's Table 2 number is the second target the chosen point is judged on); cached by the
    settings and the source.

    Each step renders ``hp["n"]`` videos (world seed :data:`SEED_OFFSET`) with the midpoint knobs,
    extracts their features and trains the baselines of :data:`ROWS` with the seeds
    ``hp["calibration"]["seeds"]`` and the chapter's schedule (model selection on the calibration
    world's validation split, accuracy on its test split); the world's defaults are measured the
    same way first (``default``). Returns the chosen ``knobs`` (world keyword arguments), their
    ``values``, the search ``history`` (one row per step), ``default``, ``targets`` and ``tolerances``.
    """
    from ..features import pretrained_encoders
    spec, cal = CALIBRATIONS["psp"], hp["calibration"]
    targets = spec["targets"]
    cache_dir = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
    enc_key = pretrained_encoders(scale, device).key
    path = cache_dir / f"psp-calibration-{calibration_key(scale, hp, enc_key, tolerances)}.json"
    if path.exists():
        out = json.loads(path.read_text())
        return {**out, "knobs": world_knobs(out["values"])}  # tuples, as a fresh search returns them

    def evaluate(values):
        data = load_data(scale, device, n=hp["n"], progress=progress, world_seed=SEED_OFFSET, **world_knobs(values))
        runs = grid(data, hp, [{"name": name, **row} for name, row in ROWS.items()], cal["seeds"], device=device,
                    progress=progress)
        return {name: float(runs.loc[runs["name"] == name, "test"].mean()) for name in targets}

    default = {**default_values(), **evaluate(default_values())}
    values, history = bisect_knobs(evaluate, spec["knobs"], targets, tolerances, steps=cal["steps"])
    out = {"knobs": world_knobs(values), "values": values, "history": history, "default": default,
           "targets": targets, "tolerances": tolerances, "world_seed": SEED_OFFSET}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    return out
