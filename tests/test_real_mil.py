"""The MIL chapter end to end on DCASE 2017 task 4 files written in the released format.

:func:`build_dcase` writes the three weak-label CSVs exactly as the challenge releases them
(tab-separated ``<ytid>_<start>_<end>.wav<TAB>start<TAB>end<TAB>label``, one row per label, rows
grouped by label so a clip's labels are not adjacent, labels with commas), the audio under
``audio/`` (some with the archives' ``Y`` prefix, some 44.1 kHz stereo, one shorter than 10 s)
and 1-fps frames under ``frames/<wav stem>/<0..9>.jpg``; one listed clip per split has no media.
"""
import json

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from avlib.datasets.dcase import DCASE_CLASSES, SPLIT_FILES

MULTI = ("Fire engine, fire truck (siren)", "Air horn, truck horn")
#: listed clips without media, one per split (must be skipped and counted)
MISSING = {"train": "gone0000000_30.000_40.000.wav", "val": "gone0000001_0.000_10.000.wav",
           "test": "gone0000002_10.000_20.000.wav"}


def _clip_name(split, i):
    ytid = f"{split[:2]}{i:03d}-x_Yq"[:11].ljust(11, "z")
    t0 = 10 * i
    return f"{ytid}_{t0}.000_{t0 + 10}.000.wav"


def build_dcase(root, n_per_split=12, seed=0):
    """Write a tiny DCASE 2017 task 4 ``data_root``; returns {split: {wav name: [labels]}}."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, csv in SPLIT_FILES.items():
        clips = {}
        for i in range(n_per_split):
            name = _clip_name(split, i)
            k = i % len(DCASE_CLASSES)
            labels = [DCASE_CLASSES[k]] + ([MULTI[i % 2]] if i % 3 == 0 and DCASE_CLASSES[k] != MULTI[i % 2] else [])
            clips[name] = labels
            sr, stereo = (44100, True) if i % 2 else (16000, False)
            seconds = 8.0 if i == 1 else 10.0
            tone = 0.2 * np.sin(2 * np.pi * (200 + 60 * k) * np.arange(int(sr * seconds)) / sr)
            wave = (tone + 0.01 * rng.standard_normal(len(tone))).astype(np.float32)
            (root / "audio").mkdir(parents=True, exist_ok=True)
            sf.write(root / "audio" / (("Y" if i % 4 == 1 else "") + name),
                     np.stack([wave, wave], 1) if stereo else wave, sr, subtype="PCM_16")
            folder = root / "frames" / name[:-4]
            folder.mkdir(parents=True, exist_ok=True)
            for t in range(10):
                img = np.full((48, 64, 3), 15 * k, np.uint8)
                img[8 + t:24 + t, 10:30] = 255 - 10 * k
                Image.fromarray(img).save(folder / f"{t}.jpg")
        clips[MISSING[split]] = ["Car"]
        # released files are grouped by label: a clip with two labels has two non-adjacent rows
        rows = [f"{n}\t{n[:-4].split('_')[-2]}\t{n[:-4].split('_')[-1]}\t{lb}"
                for lb in DCASE_CLASSES for n, lbs in clips.items() if lb in lbs]
        (root / csv).write_text("\n".join(rows) + "\n")
        out[split] = clips
    return out


@pytest.fixture(scope="module")
def dcase_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("dcase")
    build_dcase(root)
    return root


def test_fixture_loads_with_skips(dcase_root):
    from avlib.datasets.dcase import DCASE2017Task4
    for split in SPLIT_FILES:
        ds = DCASE2017Task4(dcase_root, split)
        assert ds.listed == 13 and ds.n == 12 and len(ds.skipped) == 1
        assert ds.skipped.counts() == {"audio file missing": 1}
        assert MISSING[split] not in ds.names


def test_chapter_on_dcase(tmp_path):
    from chapter_runner import run_chapter, shown_text
    dcase_root = tmp_path / "dcase"
    for d in (dcase_root, tmp_path / "a", tmp_path / "b"):
        d.mkdir()
    build_dcase(dcase_root)
    nb, results = run_chapter("mil", tmp_path / "a", dcase_root)
    prov = results["provenance"]
    assert prov["data"] == "DCASE 2017 task 4" and prov["data_root"] == str(dcase_root)
    assert len(prov["data_fingerprint"]) == 16
    text = shown_text(nb)
    assert "ours: world" not in text and "Our numbers are on the world" not in text
    assert "ours: DCASE 2017 task 4" in text
    assert "needs the world's ground truth" in text                     # the skipped sections say so
    assert "audio file missing" in text and "gone0000000_30.000_40.000.wav" in text   # the skip table
    claims = {c["claim"]: c for c in results["results"]["claims"]}
    loc = [c for c in claims.values() if str(c["note"]).startswith("needs ")]
    assert loc and all(c["verdict"] == "not testable" for c in loc)
    assert all(c.get("data") == "DCASE 2017 task 4" for c in claims.values())
    notes = " ".join(str(c["note"]) for c in claims.values())            # no world-only note on real data
    assert "world" not in notes.replace("the world provides", "").replace("world's", "") and "icon" not in notes
    assert "label file" in text and "differs from the released file" in text   # the fixture's CSVs are not the release
    assert len(loc) == 3 and claims["it tags unsynchronized events as well as synchronized ones"] in loc
    assert set(results["results"]["table1"]) >= {"AV two-stream", "TS audio-only"}
    clips = results["results"]["clips"]
    assert clips["train"] == {"used": 12, "listed": 13, "skipped": {"audio file missing": 1}}

    # changed data: labels added to the training CSV → a new fingerprint, features and models retrained
    csv = dcase_root / SPLIT_FILES["train"]
    first = csv.read_text().splitlines()[0].split("\t")[0]
    csv.write_text(csv.read_text() + f"{first}\t0.000\t10.000\tTrain\n")
    nb2, results2 = run_chapter("mil", tmp_path / "b", dcase_root)
    assert results2["provenance"]["data_fingerprint"] != prov["data_fingerprint"]
    keys = lambda r: r["results"]["feature_keys"]  # noqa: E731
    assert keys(results2)["train"] != keys(results)["train"]
    assert json.dumps(keys(results2)) != json.dumps(keys(results))


def test_wrong_data_root_names_the_layout(tmp_path):
    from avlib.experiments import mil as X
    from avlib.repro import check_parameters
    (tmp_path / SPLIT_FILES["train"]).write_text("")
    with pytest.raises(ValueError, match="groundtruth_weak_label_testing_set.csv") as err:
        check_parameters("smoke", "cpu", None, tmp_path, X.DATA_LAYOUT)
    assert "DCASE 2017 task 4" in str(err.value) and "avlib/datasets/dcase.py" in str(err.value)
