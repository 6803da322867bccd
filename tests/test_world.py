"""The world: determinism, ground truth matching the render, knobs and clear errors."""
import numpy as np
import pytest

from avlib.world import CATEGORIES, Cocktail, Events, Pretrain, SingleSource, WeakMultilabel, sound_bank
from avlib.world.scene import Placement, opaque_box, render_frame

TASKS = [(Events, {}), (SingleSource, {}), (Cocktail, {"kind": "solo"}), (Cocktail, {"kind": "duet"}),
         (Cocktail, {"kind": "mosaic"}), (WeakMultilabel, {}), (Pretrain, {})]


def _arrays(sample):
    return {k: v for k, v in sample.items() if isinstance(v, np.ndarray)}


@pytest.mark.parametrize("task,kw", TASKS)
def test_same_seed_same_arrays_other_seed_different(task, kw):
    a, b, c = task(4, seed=3, **kw)[2], task(4, seed=3, **kw)[2], task(4, seed=4, **kw)[2]
    for k, v in _arrays(a).items():
        np.testing.assert_array_equal(v, _arrays(b)[k], err_msg=k)
    assert not np.array_equal(a["audio"], c["audio"])


def test_samples_render_independently_of_order():
    w = Events(6, seed=1)
    later_first = w[5]
    _ = [w[i] for i in range(5)]
    np.testing.assert_array_equal(later_first["frames"], w[5]["frames"])


def test_every_category_has_icon_and_distinct_nonsilent_sounds():
    for cat in CATEGORIES:
        assert cat.icon.shape == (72, 72, 4)
        bank = sound_bank(cat.name)
        assert bank.shape == (16, 16000) and bank.dtype == np.float32
        rms = np.sqrt((bank ** 2).mean(1))
        np.testing.assert_allclose(rms, 0.1, rtol=1e-3)
        assert not np.array_equal(bank[0], bank[1])


def test_box_covers_exactly_the_icons_opaque_pixels():
    placements = [Placement("🎺", 40, 10, 20), Placement("🐕", 30, 60, 70, flip=True)]
    frame, boxes = render_frame(np.random.default_rng(0), 112, placements, background="plain")
    changed = (frame != 127).any(-1)
    inside = np.zeros_like(changed)
    for x0, y0, x1, y1 in boxes:
        inside[y0:y1, x0:x1] = True
        # tight: drawn pixels touch all four sides of the box
        region = changed[y0:y1, x0:x1]
        assert region[0].any() and region[-1].any() and region[:, 0].any() and region[:, -1].any()
    assert not (changed & ~inside).any(), "pixels were drawn outside every box"
    assert boxes[0] == opaque_box("🎺", 40, 10, 20)


def test_event_is_audible_and_visible_and_labels_match():
    w = Events(30, seed=2)
    K = w.num_classes
    for s in w:
        np.testing.assert_array_equal(s["event"], s["audible"] & s["visible"])
        np.testing.assert_array_equal(s["segment_labels"] == s["video_label"], s["event"])
        assert set(np.unique(s["segment_labels"])) <= {s["video_label"], K}
        for t, objs in enumerate(s["objects"]):
            has_main = any(o["class"] == s["video_label"] for o in objs)
            assert has_main == s["visible"][t]
            for o in objs:
                if o["class"] == s["video_label"]:
                    assert o["sounding"] == s["audible"][t]


def test_sounding_segments_stand_above_the_noise_floor():
    w = Events(20, seed=0, snr_db=(10.0, 10.0), p_offscreen=0.0)
    loud, quiet = [], []
    for s in w:
        rms = np.sqrt((s["audio"].reshape(10, -1) ** 2).mean(1))
        loud += list(rms[s["audible"]])
        quiet += list(rms[~s["audible"]])
    assert min(loud) > 2 * max(quiet)
    # the noise floor sits at the requested SNR below the nominal source level (0.1 RMS)
    np.testing.assert_allclose(np.median(quiet), 0.1 * 10 ** (-10 / 20), rtol=0.1)


def test_silent_objects_add_no_audio():
    with_silent = Events(8, seed=5, p_silent=1.0)
    without = Events(8, seed=5, p_silent=0.0)
    changed_frames = 0
    for i in range(8):
        a, b = with_silent[i], without[i]
        np.testing.assert_array_equal(a["audio"], b["audio"])
        changed_frames += not np.array_equal(a["frames"], b["frames"])
    assert changed_frames > 0


def test_single_source_and_mosaic_flags():
    s = SingleSource(5, seed=0, distractors=(2, 2))[0]
    assert sum(o["sounding"] for o in s["objects"]) == 1 and len(s["objects"]) == 3
    assert s["objects"][-1]["box"] == s["box"] and len(s["annotator_boxes"]) == 3
    m = Cocktail(5, seed=0, kind="mosaic", n_sounding=2, n_silent=2)[1]
    assert sorted(o["class"] for o in m["objects"] if o["sounding"]) == m["sounding_classes"]
    assert len(m["silent_classes"]) == 2 and not set(m["silent_classes"]) & set(m["sounding_classes"])


def test_multilabel_truth_is_consistent():
    for s in WeakMultilabel(20, seed=0):
        assert s["frames"].shape == (10, 112, 112, 3) and s["audio"].shape == (160000,)
        heard = s["audio_on"].any(0)
        np.testing.assert_array_equal(heard, s["labels"] > 0)
        for t, objs in enumerate(s["objects"]):
            assert {o["class"] for o in objs} == set(np.flatnonzero(s["visual_on"][t]))
        assert not set(s["silent_classes"]) & set(np.flatnonzero(heard))


def test_clear_errors():
    with pytest.raises(ValueError, match="unknown events knobs"):
        Events(3, snr=1)
    with pytest.raises(ValueError, match="unknown categories"):
        Events(3, classes=("guitar", "unicorn"))
    with pytest.raises(ValueError, match="unknown cocktail kind"):
        Cocktail(3, kind="trio")
    with pytest.raises(IndexError):
        Events(3)[3]


def _bank_digests(names):
    """Digests of every bank in ``names``, rendered in that order in a fresh Python process."""
    import subprocess
    import sys
    code = ("import hashlib, sys\nfrom avlib.world import sound_bank\n"
            "for n in sys.argv[1:]: print(n, hashlib.md5(sound_bank(n).tobytes()).hexdigest())")
    out = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, check=True).stdout
    return dict(line.rsplit(" ", 1) for line in out.strip().splitlines())


def test_every_sound_bank_is_identical_across_processes_and_render_orders():
    # Speech banks (espeak-ng) included: two fresh processes, opposite orders, same bytes.
    names = [c.name for c in CATEGORIES]
    forward, backward = _bank_digests(names), _bank_digests(names[::-1])
    assert set(forward) == set(names)
    differ = [n for n in names if forward[n] != backward[n]]
    assert not differ, f"sound banks differ between processes / render orders: {differ}"
