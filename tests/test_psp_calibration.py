"""The PSP world calibration: its search on a stand-in world (baselines only, its own world seed, the
chapter's schedule), its cache (hits across processes, tuples restored) — without rendering or training."""
import json
import subprocess
import sys
from types import SimpleNamespace

import pandas as pd
import pytest

import avlib.features
from avlib.calibration import CALIBRATIONS
from avlib.experiments import psp, psp_calibration as PC


def fake_world(monkeypatch):
    """load_data / grid stand-ins: accuracy rises linearly with the SNR's lower end (AVEL 4 points below)."""
    seen = []

    def load_data(scale, device, n, progress, world_seed, **knobs):
        seen.append({"world_seed": world_seed, "n": n, **knobs})
        return knobs

    def grid(data, hp, rows, seeds, device, progress):
        snr = data["snr_db"][0]
        acc = {"w/o PSP": 115.0 + 2.0 * snr, "AVEL": 111.0 + 2.0 * snr}
        return pd.DataFrame([{**row, "seed": s, "test": acc[row["variant"]], "epochs": hp["epochs"]}
                             for row in rows for s in seeds])

    monkeypatch.setattr(PC, "load_data", load_data)
    monkeypatch.setattr(PC, "grid", grid)
    monkeypatch.setattr(avlib.features, "pretrained_encoders", lambda scale, device: SimpleNamespace(key="enc"))
    return seen


def test_the_search_trains_baselines_only_on_its_own_world(monkeypatch, tmp_path):
    seen = fake_world(monkeypatch)
    hp = psp.settings("book")
    tol = {"w/o PSP, fully": 11.055, "AVEL, fully": 10.47}
    out = PC.calibrate_world("book", hp, tol, cache_dir=tmp_path)
    assert len(seen) == 1 + hp["calibration"]["steps"]                      # the default, then the steps
    assert {s["world_seed"] for s in seen} == {PC.SEED_OFFSET} and {s["n"] for s in seen} == {hp["n"]}
    assert seen[0]["snr_db"] == (-15.0, -3.0)                                 # the world's default first
    assert out["default"]["w/o PSP, fully"] == pytest.approx(85.0)
    assert {r["variant"] for r in PC.ROWS.values()} == {"w/o PSP", "AVEL"}   # never PSP, whose claims are judged
    # 115 + 2·shift = 73.7 at shift −20.65; the bisection of [−30, −10] gets there within its resolution
    best = min(out["history"], key=lambda h: h["miss"])
    assert out["values"] == {"snr_shift": best["snr_shift"]} and best["miss"] < 0.2
    lo, hi = out["knobs"]["snr_db"]
    assert isinstance(out["knobs"]["snr_db"], tuple) and hi - lo == 12.0
    knob = CALIBRATIONS["psp"]["knobs"][0]
    assert knob.low <= lo <= knob.high
    seen.clear()
    again = PC.calibrate_world("book", hp, tol, cache_dir=tmp_path)
    assert seen == [] and again["knobs"] == out["knobs"] and isinstance(again["knobs"]["snr_db"], tuple)
    assert json.loads(next(tmp_path.glob("psp-calibration-*.json")).read_text())["world_seed"] == PC.SEED_OFFSET


def test_the_cache_key_is_the_same_in_another_process():
    code = ("from avlib.experiments import psp, psp_calibration as PC; "
            "print(PC.calibration_key('book', psp.settings('book'), 'enc', {'w/o PSP, fully': 11.055}))")
    keys = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
            for _ in range(2)}
    assert len(keys) == 1 and len(next(iter(keys))) == 16


def test_world_seed_changes_the_data_key_and_seed_zero_keeps_it(monkeypatch):
    monkeypatch.setattr(avlib.features, "pretrained_encoders", lambda scale, device: SimpleNamespace(key="enc"))
    monkeypatch.setattr(avlib.features, "events_features", lambda task, enc, desc=None: {"seed": task.seed})
    feats0, key0, task0 = psp._world_features(4, "smoke", "cpu", {}, False)
    feats7, key7, task7 = psp._world_features(4, "smoke", "cpu", {}, False, world_seed=7)
    assert (task0.seed, task7.seed) == (0, 7) and feats7 == {"seed": 7}
    assert key0 == f"events-4-{task0.config!r}-enc"          # the key the chapter's world always had
    assert key7 == f"events-4-seed7-{task7.config!r}-enc" and key7 != key0
