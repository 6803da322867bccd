"""The DSOL chapter end to end on a tiny MUSIC root in the released formats (issue 13).

The fixture (``test_music_loader.write_music``) has the official annotation JSON keys, sparse
category ids, pixel [x, y, w, h] boxes with "wdith", empty box lists, a duet frame with one box,
missing media, MUSIC-Synthetic's .npy boxes and the official frame folders.
"""
import pytest
from chapter_runner import run_chapter, shown_text
from test_music_loader import N_TRAIN_SECONDS, write_music

from avlib.datasets.io import fingerprint
from avlib.experiments import dsol as X
from avlib.repro import check_parameters, data_identity



@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return write_music(tmp_path_factory.mktemp("music") / "MUSIC")


@pytest.fixture(scope="module")
def executed(root, tmp_path_factory):
    return run_chapter("dsol", tmp_path_factory.mktemp("run"), root)


def test_wrong_data_root_fails_first_naming_the_layout(tmp_path):
    with pytest.raises(ValueError, match="solotest.json") as err:
        check_parameters("smoke", "cpu", None, tmp_path, X.DATA_LAYOUT)
    assert "MUSIC" in str(err.value) and "avlib/datasets/music.py" in str(err.value)


def test_chapter_finishes_on_music_with_provenance(root, executed):
    nb, res = executed
    prov = res["provenance"]
    assert prov["data"] == "MUSIC" and prov["data_root"] == str(root)
    assert prov["data_fingerprint"] == fingerprint(root)
    assert not [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    # the loader's skips, shown: solo test 1 empty + 1 frame + 1 audio, duet 1 empty, synthetic 1 frame,
    # solo train the seconds of a video without a label
    skipped = {(r["split"], r["reason skipped"]): r["skipped"] for r in res["results"]["skipped"]}
    assert skipped[("solo_test", "empty box list (skipped by the official evaluation)")] == 1
    assert skipped[("duet_test", "empty box list (skipped by the official evaluation)")] == 1
    assert skipped[("solo_test", "audio file missing")] == 1 and skipped[("mosaic_test", "frame file missing")] == 1
    assert skipped[("solo_train", "video not in MUSIC_solo_videos.json")] == N_TRAIN_SECONDS


def test_shown_text_labels_the_data_and_the_skips(executed):
    text = shown_text(executed[0])
    assert "frames the loader skipped" in text and "empty box list" in text
    assert f"({5 + N_TRAIN_SECONDS} in all)" in text
    assert "Section skipped on MUSIC" in text and "needs the world's ground truth" in text
    assert "measured on MUSIC" in text and "measured on world" not in text
    assert "Measured on MUSIC." in text


def test_claims_say_music_and_world_only_ones_are_not_testable(executed):
    claims = executed[1]["results"]["claims"]
    assert claims and all(c["data"] == "MUSIC" for c in claims)
    assert not any("world-pretrained" in str(c["note"]) for c in claims)    # no world-only note on real data
    text = shown_text(executed[0])
    assert "solotest.json: differs from the released file" in text          # the fixture is not the release
    world_only = [c for c in claims if "7 in view" in c["claim"]]
    assert len(world_only) == 1 and world_only[0]["verdict"] == "not testable"
    # every other claim is measured on MUSIC: testable, or (on the tiny fixture) without room to move, which it says
    assert all(c["verdict"] != "not testable" or c["note"].startswith("no room to move")
               for c in claims if c not in world_only)
    assert all(c["mean"] is not None for c in claims if c not in world_only)


def test_same_data_hits_and_changed_data_misses_the_model_cache(root, tmp_path, monkeypatch):
    import avlib.train
    monkeypatch.setattr(avlib.train, "DEFAULT_CACHE", tmp_path / "cache")   # its own cache: no state from other runs
    X._CACHE.clear()
    data = X.load_data("smoke", root)
    assert data["identity"] == data_identity(root)
    X.run_dsol(data, "smoke", seed=0)                                      # trains stage one and two
    before = dict(X.CACHE_STATS)
    X.run_dsol(data, "smoke", seed=0)
    assert X.CACHE_STATS["loaded"] - before["loaded"] == 2 and X.CACHE_STATS["trained"] == before["trained"]
    changed = write_music(tmp_path / "MUSIC", extra_synthetic=1)   # one more training mosaic
    assert data_identity(changed) != data_identity(root)
    X.run_dsol(X.load_data("smoke", changed), "smoke", seed=0)
    assert X.CACHE_STATS["trained"] - before["trained"] == 2
