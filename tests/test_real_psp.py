"""The PSP chapter end to end on a tiny AVE folder in the official HDF5 layout (issue 13).

:func:`write_ave_release` writes the released files (key ``avadataset``, split files key
``order``, the shapes of the release, one-hot labels with background at index 28, the weak
setting's ``*_noisy.h5``) for a few dozen videos whose features carry the class, so training runs.
The chapter runs at smoke with papermill on it (:func:`tests.chapter_runner.run_chapter`).
"""
import re
import sys
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chapter_runner import run_chapter, shown_text  # noqa: E402

from avlib.datasets.ave import BACKGROUND, NUM_CLASSES  # noqa: E402
from avlib.datasets.io import fingerprint  # noqa: E402

N, M, CLASSES = 32, 3, (0, 5, 11, 20)
ORDER = {"train": range(0, 20), "val": range(20, 26), "test": range(26, 32)}


def _write(path, key, data):
    with h5py.File(path, "w") as f:
        f.create_dataset(key, data=data)


def write_ave_release(root, seed=0):
    """N videos in the released AVE layout; each has one event class over a random span of segments.

    Visual and audio features of an event segment are noise plus a class direction (learnable);
    background segments are noise. 32 videos keep visual_feature.h5 (32.1 MB) under the
    fingerprint's whole-file size, so any changed byte changes the fingerprint.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    seg = np.full((N, 10), BACKGROUND)
    for i in range(N):
        start, length = rng.integers(0, 6), rng.integers(3, 5)
        seg[i, start:start + length] = CLASSES[i % len(CLASSES)]
    onehot = np.eye(NUM_CLASSES, dtype=np.float32)[seg]
    vdir, adir = rng.standard_normal((NUM_CLASSES, 512)), rng.standard_normal((NUM_CLASSES, 128))
    event = (seg != BACKGROUND)[..., None]
    audio = rng.standard_normal((N, 10, 128)) + 2 * event * adir[seg]
    visual = np.abs(rng.standard_normal((N, 10, 7, 7, 512)) + 2 * (event * vdir[seg])[:, :, None, None, :])
    _write(root / "visual_feature.h5", "avadataset", visual.astype(np.float32))
    _write(root / "audio_feature.h5", "avadataset", audio.astype(np.float32))
    _write(root / "right_labels.h5", "avadataset", onehot)
    _write(root / "prob_label.h5", "avadataset", onehot.mean(1))
    _write(root / "mil_labels.h5", "avadataset", (onehot.sum(1) > 0).astype(np.float32))
    for split, idx in ORDER.items():
        _write(root / f"{split}_order.h5", "order", np.array(list(idx), dtype=np.int64))
    _write(root / "visual_feature_noisy.h5", "avadataset", np.abs(rng.standard_normal((M, 10, 7, 7, 512))).astype(np.float32))
    _write(root / "audio_feature_noisy.h5", "avadataset", rng.standard_normal((M, 10, 128)).astype(np.float32))
    _write(root / "labels_noisy.h5", "avadataset", np.eye(NUM_CLASSES, dtype=np.float32)[[BACKGROUND] * M])
    return root


def _cache_line(text):
    found = re.search(r"(\d+) runs on AVE, (\d+) loaded from the cache", text)
    assert found, "the grid cell should say how many runs came from the cache"
    return int(found[1]), int(found[2])


def _long_line(text):
    """The trained-on runs of a chapter execution: (runs, loaded from the cache)."""
    found = re.search(r"\d+ rows with a pilot curve that has not flattened by epoch \d+: (\d+) runs of \d+ epochs, "
                      r"(\d+) loaded from the cache", text)
    assert found, "the long-run cell should say how many runs it trained"
    return int(found[1]), int(found[2])


def test_psp_chapter_on_released_ave_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("AVLIB_CACHE", str(tmp_path / "cache"))
    root = write_ave_release(tmp_path / "AVE")
    for run in ("run1", "run2"):
        (tmp_path / run).mkdir()
    nb, res = run_chapter("psp", tmp_path / "run1", root)
    info, text = res["provenance"], shown_text(nb)
    assert info["data"] == "AVE" and info["data_root"] == str(root) and info["data_fingerprint"] == fingerprint(root)
    assert res["results"]["data"] == "AVE" and info["data_fingerprint"] in res["results"]["data_key"]
    assert res["results"]["n_videos"] == {"train": 20, "val": 6, "test": 6}
    assert res["results"]["skipped"] == {} and "no videos skipped" in text
    assert "ours (world)" not in text and "ours: world" not in text
    assert not re.search(r"on the world(?!'s)", text, re.I), "results prose must not say they are on the world"
    assert text.count("ours: AVE") >= 4, "Tables 1-4 must name the data of our numbers"
    assert "Skipped on AVE: this section needs the world's ground truth" in text
    assert re.search(r"\d+ of \d+ models predict one class", text)
    claims = {c["claim"]: c for c in res["results"]["claims"]}
    unsync = claims["PSP helps more when audio and vision are unsynchronized"]
    assert unsync["verdict"] == "not testable" and "only the world provides" in unsync["note"]
    assert all(c["data"] == "AVE" for c in claims.values())
    runs, cold = _cache_line(text)  # a cold cache: only rows shared by two tables (one model) load
    assert 0 <= cold < runs / 2
    n_models = len(list((tmp_path / "cache").rglob("psp-*.pt")))
    assert n_models > 0

    # the same shape, other numbers: a new fingerprint, so every model is retrained, none loaded
    with h5py.File(root / "audio_feature.h5", "r+") as f:
        f["avadataset"][...] = -f["avadataset"][()]
    nb2, res2 = run_chapter("psp", tmp_path / "run2", root)
    assert res2["provenance"]["data_fingerprint"] != info["data_fingerprint"]
    assert res2["results"]["data_key"] != res["results"]["data_key"]
    assert _cache_line(shown_text(nb2)) == (runs, cold)  # as cold as the first run: nothing of it was reused
    # which rows train on depends on their curves, so on the data: every model of run 2 is new, none loaded
    (long1, loaded1), (long2, loaded2) = _long_line(text), _long_line(shown_text(nb2))
    assert loaded1 == loaded2 == 0
    assert len(list((tmp_path / "cache").rglob("psp-*.pt"))) == 2 * n_models - long1 + long2


def test_same_files_load_from_the_cache_and_a_moved_folder_too(tmp_path, monkeypatch):
    """The cache key is the content, not the path: the same files elsewhere give the same key."""
    import shutil

    from avlib.experiments import psp as ex
    a = write_ave_release(tmp_path / "a")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    ka, kb = ex.load_data("smoke", "cpu", data_root=a).key, ex.load_data("smoke", "cpu", data_root=b).key
    assert ka == kb and str(a) not in ka
    with h5py.File(b / "visual_feature.h5", "r+") as f:
        f["avadataset"][0, 0, 0, 0, 0] += 1.0  # one number of 8 million
    assert ex.load_data("smoke", "cpu", data_root=b).key != ka
