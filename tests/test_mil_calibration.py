"""The MIL world calibration: its search on a stand-in world, its own world seeds, its cache (hits across
processes, tuples restored) — without rendering or training anything."""
import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from avlib.experiments import mil, mil_calibration as MC


def fake_world(monkeypatch):
    """make_splits / extract_features / run_grid stand-ins: F1 falls linearly with each knob's difficulty."""
    seen = []

    def make_splits(cfg, data_root, **knobs):
        seen.append({"world_seed": cfg["world_seed"], "n_train": cfg["n_train"], **knobs})
        return {"train": knobs, "val": knobs, "test": knobs}

    def extract_features(task, encoders, cfg, cache_dir, desc=None):
        return task

    def run_grid(feats, cfg, systems, seeds, cache_dir, keep, device, workers=None):
        k = feats["test"]
        snr = k.get("snr_db", (0.0, 10.0))[0]
        missing = k.get("p_visual_missing", 0.15)
        f1 = {"TS audio-only": (93.0 + 2.0 * snr) / 100, "TS video-only": (80.0 - 70.0 * missing) / 100}
        return {"results": {s: {0: {"f1": f1[s]}} for s in systems}}

    for name, fn in (("make_splits", make_splits), ("extract_features", extract_features), ("run_grid", run_grid)):
        monkeypatch.setattr(MC, name, fn)
    return seen


def test_the_search_uses_its_own_worlds_and_lands_on_the_targets(monkeypatch, tmp_path):
    seen = fake_world(monkeypatch)
    cfg = mil.settings("book")
    tol = {"TS audio-only": 8.595, "TS video-only": 7.095}
    out = MC.calibrate_world(cfg, SimpleNamespace(key="enc"), tol, cache_dir=tmp_path)
    assert len(seen) == 1 + cfg["calibration"]["steps"]                       # the default, then the steps
    assert {s["world_seed"] for s in seen} == {cfg["world_seed"] + MC.SEED_OFFSET}
    assert {s["n_train"] for s in seen} == {cfg["calibration"]["n_train"]}
    assert seen[0] == {"world_seed": cfg["world_seed"] + MC.SEED_OFFSET, "n_train": 400}   # the world's defaults
    assert out["default"]["TS audio-only"] == pytest.approx(93.0)
    # audio: 93 + 2·shift = 57.3 at shift −17.85; video: 80 − 70·p = 47.3 at p 0.467
    best = min(out["history"], key=lambda h: h["miss"])
    assert out["values"] == {"snr_shift": best["snr_shift"], "p_visual_missing": best["p_visual_missing"]}
    assert best["miss"] < 1 and isinstance(out["knobs"]["snr_db"], tuple)
    # a second call reads the cache: nothing is rendered, the knobs come back as tuples
    seen.clear()
    again = MC.calibrate_world(cfg, SimpleNamespace(key="enc"), tol, cache_dir=tmp_path)
    assert seen == [] and again["knobs"] == out["knobs"] and isinstance(again["knobs"]["snr_db"], tuple)
    assert json.loads(next(tmp_path.glob("mil-calibration-*.json")).read_text())["world_seed"] == 1000


def test_the_cache_key_is_the_same_in_another_process():
    code = ("from avlib.experiments import mil, mil_calibration as MC; "
            "print(MC.calibration_key(mil.settings('book'), 'enc', {'TS audio-only': 8.595, 'TS video-only': 7.095}))")
    keys = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
            for _ in range(2)}
    assert len(keys) == 1 and len(next(iter(keys))) == 16
