"""The LVS world calibration: the search (the baseline only, its own worlds, test knobs only, the small
set reported), its cache, and the knobs reaching the rendered test scenes."""
import json
from types import SimpleNamespace

import numpy as np
import pytest

from avlib.experiments import lvs as X
from avlib.experiments import lvs_calibration as LC


def fake_search(monkeypatch):
    """world_split / train_one / evaluate stand-ins: cIoU rises with the test set's object scale."""
    seen = {"splits": [], "trained": []}

    def world_split(kind, n, cfg, encoders=None, knobs=None, seed_offset=0, cache_dir=None):
        seen["splits"].append({"kind": kind, "seed_offset": seed_offset, **(knobs or {})})
        return {"kind": kind, "scale": (knobs or {}).get("scale"), "n": n}

    def train_one(method, split, seed, cfg, device, val=None):
        seen["trained"].append((method, split["kind"], split["n"], seed, val["kind"]))
        return SimpleNamespace(size="small" if split["n"] == cfg["n_small"] else "large"), {}

    def evaluate(model, split, cfg):
        low = split["scale"][0]
        ciou = {"flickr": 2.0 * low - 0.2, "vggss": 1.5 * low - 0.38}[split["kind"]]   # 0.66 at 0.43, 0.185 at 0.39
        return {"ciou": ciou - (0.3 if model.size == "small" else 0.0)}

    monkeypatch.setattr(LC, "world_split", world_split)
    monkeypatch.setattr(LC, "train_one", train_one)
    monkeypatch.setattr(LC, "evaluate", evaluate)
    monkeypatch.setattr(LC, "subset", lambda split, n: {**split, "n": n})
    return seen


def test_the_search_moves_the_test_sets_and_trains_the_baseline_once(monkeypatch, tmp_path):
    seen = fake_search(monkeypatch)
    cfg = X.settings("book")
    tol = {"Attention10k, Flickr, large training": 0.099, "Attention10k, VGG-SS, large training": 0.05}
    out = LC.calibrate_world("book", cfg, tol, SimpleNamespace(key="enc"), cache_dir=tmp_path)
    seeds = LC.search_settings("book")["seeds"]
    # the baseline only (never LVS), trained once per seed and size, on the calibration world's training scenes
    assert {m for m, *_ in seen["trained"]} == {"attention10k"} and len(seen["trained"]) == 2 * len(seeds)
    assert seen["splits"][0] == {"kind": "train", "seed_offset": LC.SEED_OFFSET}
    # selected as the chapter's models are: on a validation split of the calibration's own world
    assert seen["splits"][1] == {"kind": "val", "seed_offset": LC.SEED_OFFSET} and {t[-1] for t in seen["trained"]} == {"val"}
    tests = seen["splits"][2:]
    assert {s["seed_offset"] for s in tests} == {LC.SEED_OFFSET} and len(tests) == 2 * (1 + LC.search_settings("book")["steps"])
    assert tests[0]["scale"] == X.KNOBS["flickr"]["scale"] and tests[1]["scale"] == X.KNOBS["vggss"]["scale"]
    assert out["default"]["Attention10k, Flickr, large training"] == pytest.approx(0.9)
    best = min(out["history"], key=lambda h: h["miss"])
    assert best["miss"] < 1.0 and out["values"] == {"flickr_scale": best["flickr_scale"], "vggss_scale": best["vggss_scale"]}
    # the small set is reported at every step, and the search does not steer by it
    assert all(h["Attention10k, Flickr, small training"] == pytest.approx(h["Attention10k, Flickr, large training"] - 0.3)
               for h in out["history"])
    for kind in ("flickr", "vggss"):
        lo, hi = out["knobs"][kind]["scale"]
        assert isinstance(out["knobs"][kind]["scale"], tuple) and hi - lo == pytest.approx(LC.SCALE_WIDTH)
    seen["splits"].clear()
    again = LC.calibrate_world("book", cfg, tol, SimpleNamespace(key="enc"), cache_dir=tmp_path)
    assert seen["splits"] == [] and again["knobs"] == out["knobs"]
    assert json.loads(next(tmp_path.glob("lvs-calibration-*.json")).read_text())["world_seed"] == LC.SEED_OFFSET


def test_the_search_needs_its_tolerances(tmp_path):
    with pytest.raises(ValueError, match="no tolerance"):
        LC.calibrate_world("smoke", X.settings("smoke"), {"Attention10k, Flickr, large training": 0.1}, None,
                           cache_dir=tmp_path)


def test_test_knobs_reach_the_scenes_and_the_defaults_keep_their_task():
    assert X.world_task("flickr", 4).config == X.world_task("flickr", 4, knobs={}).config
    task = X.world_task("flickr", 6, knobs=LC.test_scale(0.3), seed_offset=LC.SEED_OFFSET)
    assert task.seed == X.DATA_SEEDS["flickr"] + LC.SEED_OFFSET and task.config.scale == (0.3, 0.55)
    assert task.config.annotators == X.KNOBS["flickr"]["annotators"]          # the other knobs stay the kind's
    sides = [max(b[2] - b[0], b[3] - b[1]) / 112 for b in (task[i]["box"] for i in range(6))]
    default = X.world_task("flickr", 6)
    default_sides = [max(b[2] - b[0], b[3] - b[1]) / 112 for b in (default[i]["box"] for i in range(6))]
    assert max(sides) <= 0.55 + 1e-9 and np.mean(default_sides) > np.mean(sides) + 0.1
    assert LC.test_knobs(LC.default_values()) == {"flickr": {"scale": X.KNOBS["flickr"]["scale"]},
                                                  "vggss": {"scale": X.KNOBS["vggss"]["scale"]}}
