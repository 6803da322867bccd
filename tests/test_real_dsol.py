"""The DSOL chapter end to end on a tiny MUSIC root in the released formats (issue 13), and on a tiny
AudioSet-instrument root in the official formats (issue 22, item 6: the loader's partitions and the chapter).

The fixture (``test_music_loader.write_music``) has the official annotation JSON keys, sparse
category ids, pixel [x, y, w, h] boxes with "wdith", empty box lists, a duet frame with one box,
missing media, MUSIC-Synthetic's .npy boxes and the official frame folders.
"""
import json
import pickle

import numpy as np
import pytest
from chapter_runner import run_chapter, shown_text
from test_music_loader import N_TRAIN_SECONDS, _audio, _frame, write_music

from avlib.datasets.audioset_instrument import UNMEASURED, AudioSetInstrument
from avlib.datasets.io import DatasetFormatError, fingerprint
from avlib.experiments import dsol as X
from avlib.experiments import dsol_data as D
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
    D._CACHE.clear()
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


# ---- AudioSet-instrument (issue 22, item 6) ----------------------------------------------------
# The fixture holds the official formats: audioset_box.json keyed '<ytid>/<second>' → {"bbox": [{"category",
# "normbox": [x, y, w, h]}]}; the partition pickles of PartitionForAudioset.zip as data/audioset.py reads
# them (<stem>_data.pkl: a list of clip folders; <stem>_data_label.pkl: {YouTube id (the folder's last 11
# characters): 13-class vector}); frames video_frames/<clip>/frame_<NNN>/<xxxxx>.jpg; the clip's audio.

AS_SOLO_TEST = {f"tSolo00000{c}": c for c in range(7)}   # two one-box seconds each, classes 0..6 (≥ 13 frames: Fig. 3)
AS_MULTI_TEST = {"tMulti00001/1": [3, 7], "tMulti00001/2": [3, 7], "tMulti00002/0": [2, 2], "tMulti00002/3": [1, 9, 4]}
AS_SOLO_TRAIN = {f"trnSolo000{c}": c for c in range(7)}         # 7 × 4 seconds ≥ 2 × 13 (Table 6's k-means)
AS_MULTI_TRAIN = {"trnMulti001": [0, 3], "trnMulti002": [2, 5, 8], "trnMulti003": [1, 6]}
AS_SECONDS = 4


def _onehot(*classes):
    v = np.zeros(13, np.float32)
    v[list(classes)] = 1
    return v


def _nb(k):
    return [0.1 + 0.3 * (k % 2), 0.1 + 0.2 * (k % 3), 0.4, 0.5]


def write_audioset_instrument(root):
    """A tiny AudioSet-instrument root in the official formats, with the skips the tests count."""
    root.mkdir(parents=True, exist_ok=True)
    ann, seed = {}, 100
    for ytid, c in AS_SOLO_TEST.items():
        for sec in (1, 2):
            ann[f"{ytid}/{sec}"] = {"bbox": [{"category": c, "normbox": _nb(sec)}]}
            _frame(root / "video_frames" / ytid / f"frame_{sec:03d}" / f"{sec * 25:05d}.jpg", seed := seed + 1)
        _audio(root / "audio" / f"{ytid}_30_40.wav", 4.0, seed)
    ann["tSolo000000/3"] = {"bbox": []}                                         # empty box list
    ann["tNoFrame001/0"] = {"bbox": [{"category": 4, "normbox": _nb(0)}]}      # frame missing
    _audio(root / "audio" / "tNoFrame001_0_10.wav", 4.0, 7)
    for key, cats in AS_MULTI_TEST.items():
        ytid, sec = key.split("/")
        ann[key] = {"bbox": [{"category": c, "normbox": _nb(k)} for k, c in enumerate(cats)]}
        _frame(root / "video_frames" / ytid / f"frame_{int(sec):03d}" / "00000.jpg", seed := seed + 1)
        _audio(root / "audio" / f"{ytid}.flac", 5.0, seed)
    (root / "audioset_box.json").write_text(json.dumps(ann))

    def clip(name, seconds=AS_SECONDS, audio=True):
        nonlocal seed
        for sec in range(seconds):
            _frame(root / "video_frames" / name / f"frame_{sec:03d}" / f"{sec * 25:05d}.jpg", seed := seed + 1)
        if audio:
            _audio(root / "audio" / f"{name}.wav", seconds, seed)

    solo = [f"v_{y}" if c == 6 else y for y, c in AS_SOLO_TRAIN.items()]     # a folder name longer than the id
    labels = {y: _onehot(c) for y, c in AS_SOLO_TRAIN.items()}
    labels["trnSolo0006"] = labels["trnSolo0006"] + 0.5 * _onehot(12)      # several classes: argmax kept, noted
    labels["trnSolo0001"] = labels["trnSolo0001"].tolist()                  # a list, not an array: read the same
    solo += ["trnNoLabel1", "trnBadLabl1", "trnNoAudio1", "trnNoFrames"]
    labels["trnBadLabl1"] = np.ones(12)                                     # corrupt: 12 classes
    labels["trnNoAudio1"] = _onehot(2)
    labels["trnNoFrames"] = _onehot(3)
    for name in solo[:-1]:
        clip(name, 2 if name.startswith("trnNo") or name.startswith("trnBad") else AS_SECONDS,
             audio=name != "trnNoAudio1")
    multi = list(AS_MULTI_TRAIN) + ["trnMultiBad"]
    mlabels = {y: _onehot(*cs) for y, cs in AS_MULTI_TRAIN.items()} | {"trnMultiBad": "violin"}
    for name in multi:
        clip(name)
    for folder, stem, lst, lab, proto in (("audioset_single", "single", solo, labels, 2),
                                          ("audioset_multi", "multi", multi, mlabels, 4)):
        (root / folder).mkdir(exist_ok=True)
        (root / folder / f"{stem}_train_data.pkl").write_bytes(pickle.dumps(lst, protocol=proto))
        (root / folder / f"{stem}_train_data_label.pkl").write_bytes(pickle.dumps(lab, protocol=proto))
    return root


@pytest.fixture(scope="module")
def as_root(tmp_path_factory):
    return write_audioset_instrument(tmp_path_factory.mktemp("audioset") / "AudioSet-instrument")


def test_audioset_solo_partition_reads_the_official_pickles_and_labels(as_root):
    ds = AudioSetInstrument(as_root, split="solo_train")
    assert len(ds) == 7 * AS_SECONDS and ds.subset == "solo"
    assert ds.skipped.counts() == {"video not in single_train_data_label.pkl": 2,
                                   "corrupt label in single_train_data_label.pkl (shape (12,), expected (13,))": 2,
                                   "audio file missing": 2, "frame folder missing": 1}
    text = ds.skipped.frame()["examples"].str.cat(sep=" ")
    assert "trnBadLabl1/frame_000" in text and "trnNoLabel1/frame_001" in text and "trnNoFrames" in text
    assert ds.label_notes.counts() == {"solo label marks several classes (argmax used, as the official code)": 1}
    labels = {ds.items[i]["key"].split("/")[0]: ds[i]["label"] for i in range(len(ds))}
    assert labels == {(f"v_{y}" if c == 6 else y): c for y, c in AS_SOLO_TRAIN.items()}
    s = ds[0]
    assert s["frame"].shape == (112, 112, 3) and s["audio"].shape == (16000,) and s["objects"] == []
    assert ds.skipped.files == {"single_train_data.pkl": UNMEASURED, "single_train_data_label.pkl": UNMEASURED}
    assert "PartitionForAudioset.zip" in UNMEASURED and "size and digest unknown" in UNMEASURED


def test_audioset_multi_partition_and_test_frames_by_box_count(as_root):
    multi = AudioSetInstrument(as_root, split="multi_train")
    assert len(multi) == 3 * AS_SECONDS
    assert multi.skipped.counts() == {"corrupt label in multi_train_data_label.pkl (not numeric)": AS_SECONDS}
    assert {multi[i]["key"].split("/")[0]: tuple(multi[i]["sounding_classes"]) for i in range(len(multi))} == \
        {y: tuple(c) for y, c in AS_MULTI_TRAIN.items()}
    solo = AudioSetInstrument(as_root, split="test", sources="solo")
    assert len(solo) == 14 and solo.skipped.counts() == {"empty box list": 1, "frame file missing": 1}
    assert solo.skipped.files == {"audioset_box.json": "differs from the released file (20 keys, expected 4,503)"}
    mt = AudioSetInstrument(as_root, split="test", sources="multi")
    assert len(mt) == 4 and not mt.skipped.counts()                         # the empty key is the solo split's
    assert all(len(mt[i]["objects"]) >= 2 for i in range(len(mt)))
    assert len(AudioSetInstrument(as_root)) == 18                            # "all": every usable key


def test_audioset_bad_partition_files_name_the_file(as_root, tmp_path):
    import shutil
    root = shutil.copytree(as_root, tmp_path / "as")
    lab = root / "audioset_single" / "single_train_data_label.pkl"
    lab.write_bytes(lab.read_bytes()[:40])                                   # truncated
    with pytest.raises(DatasetFormatError, match="not a readable partition pickle") as err:
        AudioSetInstrument(root, split="solo_train")
    assert "single_train_data_label.pkl" in str(err.value) and "Expected layout" in str(err.value)
    import collections
    lab.write_bytes(pickle.dumps(collections.Counter("ab")))                 # a global no partition file holds
    with pytest.raises(DatasetFormatError, match="refers to collections.Counter"):
        AudioSetInstrument(root, split="solo_train")
    (root / "audioset_multi" / "multi_train_data.pkl").unlink()
    with pytest.raises(DatasetFormatError, match="PartitionForAudioset.zip"):
        AudioSetInstrument(root, split="multi_train")
    with pytest.raises(ValueError, match="multi_train_data.pkl") as err:
        check_parameters("smoke", "cpu", None, root, X.data_layout(root))
    assert "AudioSet-instrument" in str(err.value)


@pytest.fixture(scope="module")
def as_executed(as_root, tmp_path_factory):
    return run_chapter("dsol", tmp_path_factory.mktemp("as-run"), as_root)


def test_chapter_runs_on_audioset_instrument_with_its_skip_table(as_root, as_executed):
    nb, res = as_executed
    prov = res["provenance"]
    assert prov["data"] == "AudioSet-instrument" and prov["data_root"] == str(as_root)
    assert not [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    skipped = {(r["split"], r["reason skipped"]): r["skipped"] for r in res["results"]["skipped"]}
    assert skipped[("solo_train", "corrupt label in single_train_data_label.pkl (shape (12,), expected (13,))")] == 2
    assert skipped[("duet_train", "corrupt label in multi_train_data_label.pkl (not numeric)")] == AS_SECONDS
    assert skipped[("solo_test", "empty box list")] == 1 and skipped[("solo_test", "frame file missing")] == 1
    assert skipped[("solo_train", f"single_train_data.pkl: {UNMEASURED}")] == 0
    note = "note, frames kept: solo label marks several classes (argmax used, as the official code): 1 clip"
    assert skipped[("solo_train", note)] == 0                              # a note: its frames are used
    assert sum(r["skipped"] for r in res["results"]["skipped"]) == 7 + 2 + AS_SECONDS
    assert ("mosaic_test", "synthetic set: absent: 27 mosaics built from 14 AudioSet-instrument one-box test "
                           "frames (seed 0)") in skipped
    assert {r["split"] for r in res["results"]["skipped"]} == {"solo_train", "solo_test", "mosaic_test", "duet_train",
                                                               "duet_test"}
    claims = res["results"]["claims"]
    assert claims and all(c["data"] == "AudioSet-instrument" for c in claims)
    ops = {(r["row"], r["test"]) for r in res["results"]["operating_point"]}
    assert ("DSOL (ours)", "AudioSet-instrument: multi-source frames") in ops
    assert not any("synthetic mosaics" in t for _, t in ops)                 # the paper has no AudioSet mosaics


def test_audioset_tables_show_the_papers_audioset_numbers(as_executed):
    text = shown_text(as_executed[0])
    assert "measured on AudioSet-instrument" in text and "measured on MUSIC" not in text
    assert "paper: Table 1, AudioSet-instrument-solo" in text and "paper: AudioSet-instrument-multi" in text
    for v in ("38.9", "40.9", "32.7", "48.7", "29.7", "56.8"):               # Table 1(b), Table 2 AudioSet-multi
        assert v in text
    assert "the paper has no synthetic set on AudioSet-instrument" in text
    assert "Section skipped on AudioSet-instrument" in text and "corrupt label" in text


def test_paper_numbers_match_the_tables():
    assert X.PAPER_TABLE1["AudioSet-instrument-solo"]["DSOL (ours)"] == (38.9, 40.9)
    assert X.PAPER_TABLE2["AudioSet-instrument-multi"]["Attention-style"] == (29.9, 23.5, 4.5)
    assert X.paper_sets("world") == X.paper_sets("MUSIC") == {"solo": "MUSIC-solo", "mosaic": "MUSIC-Synthetic",
                                                              "duet": "MUSIC-Duet"}
    assert X.dataset_name(None) == "world"
