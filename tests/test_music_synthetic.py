"""MUSIC-Synthetic built from MUSIC-solo when a MUSIC root lacks the released ``synthetic/`` folder
(DSOL Sec. 4.1: four 1-s solo pairs of different classes, two of them sounding), seeded."""
import shutil

import numpy as np
import pytest
from test_music_loader import write_music

from avlib.datasets.music import Music, MusicFormatError
from avlib.datasets.music_synthetic import MAX_JITTER, BuiltSynthetic
from avlib.experiments import dsol as X
from avlib.experiments import dsol_data as D
from avlib.repro import check_data_root


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    r = write_music(tmp_path_factory.mktemp("music") / "MUSIC")
    shutil.rmtree(r / "synthetic")
    return r


def test_a_root_without_synthetic_is_accepted(root):
    assert check_data_root(root, X.DATA_LAYOUT) == root


def test_built_test_mosaics_follow_the_paper(root):
    solo = Music(root, "solo", "test")
    ds = BuiltSynthetic(solo, 12, seed=0)
    assert len(ds) == 12 and ds.classes == solo.classes
    for k in range(len(ds)):
        s = ds[k]
        parts, sounding, delays = ds.recipe(k)
        classes = [int(solo.items[i]["objects"][0][0]) for i in parts]
        assert len(set(classes)) == 4 and sum(sounding) == 2                    # four classes, two heard
        assert s["frame"].shape == (112, 112, 3) and s["audio"].shape == (16000,) and s["kind"] == "mosaic"
        assert len(s["sounding_classes"]) == 2 and len(s["silent_classes"]) == 2
        assert set(s["sounding_classes"]) | set(s["silent_classes"]) == set(classes)
        for o in s["objects"]:                                                  # each box inside its quadrant
            x0, y0, x1, y1 = o["box"]
            assert x1 > x0 and y1 > y0 and (x0 < 56) == (x1 <= 56) and (y0 < 56) == (y1 <= 56)
            assert o["sounding"] == (o["class"] in s["sounding_classes"])
        assert all(0 <= d < MAX_JITTER for d in delays)
    # the frame is the four solo frames, halved: tile (0, 0) is part 0
    parts, _, _ = ds.recipe(0)
    first = solo[parts[0]]["frame"].reshape(56, 2, 56, 2, 3).mean((1, 3))
    np.testing.assert_array_equal(ds[0]["frame"][:56, :56], np.round(first).astype(np.uint8))


def test_audio_is_the_two_sounding_clips_jittered_and_averaged(root):
    solo = Music(root, "solo", "test")
    ds = BuiltSynthetic(solo, 3, seed=5)
    parts, sounding, delays = ds.recipe(2)
    expected = np.zeros(16000, np.float32)
    for i, d in zip([p for p, s in zip(parts, sounding) if s], delays):
        expected[d:] += 0.5 * solo[i]["audio"][:16000 - d]
    np.testing.assert_array_equal(ds[2]["audio"], expected)


def test_the_same_seed_builds_the_same_set_and_another_seed_another(root):
    solo = Music(root, "solo", "test")
    a, b, c = BuiltSynthetic(solo, 6, seed=0), BuiltSynthetic(solo, 6, seed=0), BuiltSynthetic(solo, 6, seed=1)
    assert all(np.array_equal(a[k]["frame"], b[k]["frame"]) and np.array_equal(a[k]["audio"], b[k]["audio"])
               for k in range(6))
    assert any(a.recipe(k) != c.recipe(k) for k in range(6))
    assert "built from" in a.skipped.files["synthetic/"] and "seed 0" in a.skipped.files["synthetic/"]


def test_training_mosaics_and_the_runner_say_they_were_built(root):
    tasks = D._music_tasks(root, D.settings("smoke"))
    assert isinstance(tasks["mosaic_train"], BuiltSynthetic) and isinstance(tasks["mosaic_test"], BuiltSynthetic)
    assert tasks["mosaic_train"][0]["objects"] == [] and len(tasks["mosaic_train"][0]["sounding_classes"]) == 2
    table = X.skip_table(tasks)
    built = table[table["reason skipped"].str.startswith("synthetic/: absent")]
    assert set(built["split"]) == {"mosaic_train", "mosaic_test"}


def test_too_few_classes_is_a_clear_error(root):
    solo = Music(root, "solo", "test")
    solo.items = [it for it in solo.items if int(it["objects"][0][0]) in {int(solo.items[0]["objects"][0][0])}]
    with pytest.raises(MusicFormatError, match="at least 4 classes"):
        BuiltSynthetic(solo, 4)
