"""The MUSIC loader on tiny files in the exact released DSOL formats (solotest.json / duettest.json
keys, sparse category ids, pixel [x, y, w, h] boxes with "wdith", empty box lists, the synthetic
test's .npy boxes, the official frame folders), and on bad ones.

:func:`write_music` builds the fixture; ``tests/test_real_dsol.py`` runs the chapter on it.
"""
import json

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from avlib.datasets.io import DatasetFormatError
from avlib.datasets.music import MUSIC_CLASSES, Music, MusicFormatError, class_of, read_annotations

W, H = 64, 48
#: solo test: video → {second: category ids (empty: the official empty box list)}
SOLO_TEST = {"4Oy5VmaacaI_0_1000": {13: [11], 0: [11], 1: []},
             "-_-TDDxoaAc_0_1000": {k: [1] for k in range(6)},
             "eBoCeQtoFtM_0_1000": {k: [12] for k in range(4)},
             "HnUOaSfTA6c_0_1000": {0: [13], 1: [13]},      # frame_001's jpg is left out
             "NoAudio0000_0_1000": {0: [8]}}                 # no audio file
DUET_TEST = {"dUet0000001_0_1000": {0: [1, 3], 1: [3], 2: []},  # frame_001: one of the two annotated
             "dUet0000002_0_1000": {0: [12, 8], 1: [12, 8]}}
SOLO_TRAIN = {"trnCello001": 1, "trnViolin01": 11, "trnFlute001": 12, "trnTrumpet1": 10, "trnAccord01": 13,
              "trnSax00001": 8, "trnGuitar01": 3, "UnlabelledX": None}
DUET_TRAIN = ("dtrn0000001", "dtrn0000002", "dtrn0000003")
SYN_TEST = {"00000": [1, 3], "00001": [12, 8], "00002": [11, 13], "00003": [10, 1], "00004": [3, 12]}
N_TRAIN_SECONDS, N_SYN_TRAIN = 4, 8   # ≥ 2 × 11 labelled solo training frames (Table 6's k-means)


def _box(k, cat):
    """A pixel [x, y, w, h] box in the W×H frame, and its normbox."""
    x, y, w, h = 4 + 20 * (k % 2), 6 + 8 * (k % 3), 32, 24
    return {"box": [x, y, w, h], "normbox": [x / W, y / H, w / W, h / H], "category_id": cat}


def _frame(path, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (H, W, 3), dtype=np.uint8)).save(path)


def _audio(path, seconds, seed, sr=16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(sr * seconds)) / sr
    sf.write(path, 0.2 * np.sin(2 * np.pi * (200 + 40 * (seed % 11)) * t), sr)


def write_music(root, extra_synthetic=0):
    """A tiny MUSIC root in the released layout (see avlib/datasets/music.py); returns it."""
    root.mkdir(parents=True, exist_ok=True)
    seed = 0
    for subset, name, table in (("solo", "solotest.json", SOLO_TEST), ("duet", "duettest.json", DUET_TEST)):
        ann = {}
        for video, secs in table.items():
            for sec, cats in secs.items():
                key = f"{video}/frame_{sec:03d}/{411 if sec == 13 else sec * 25:05d}.jpg"
                ann[key] = {"bbox": [_box(k, c) for k, c in enumerate(cats)], "wdith": W, "height": H}
                if not (video.startswith("HnUO") and sec == 1):
                    _frame(root / subset / "video_frames" / key, seed := seed + 1)
            if not video.startswith("NoAudio"):
                _audio(root / subset / "audio" / f"{video}.wav", max(secs) + 1.5, seed,
                       sr=22050 if subset == "duet" else 16000)
        (root / name).write_text(json.dumps(ann))
    labels = {c: [] for c in MUSIC_CLASSES}
    for video, cat in SOLO_TRAIN.items():
        if cat is not None:
            labels[MUSIC_CLASSES[class_of(cat)]].append(video[:11])
    (root / "MUSIC_solo_videos.json").write_text(json.dumps({"version": 1.0, "videos": labels}, indent=4))
    for subset, videos in (("solo", SOLO_TRAIN), ("duet", DUET_TRAIN)):
        for video in videos:
            name = f"{video}_0_1000"
            for sec in range(N_TRAIN_SECONDS):
                for j in range(2):
                    _frame(root / subset / "video_frames" / name / f"frame_{sec:03d}" / f"{sec * 25 + 6 * j:05d}.jpg",
                           seed := seed + 1)
            _audio(root / subset / "audio" / f"{name}.flac", N_TRAIN_SECONDS, seed)
    base = root / "synthetic" / "test1"
    for k, (stem, cats) in enumerate(SYN_TEST.items()):
        (base / "box").mkdir(parents=True, exist_ok=True)
        rows = [[0.5 * (j % 2), 0.5 * (j // 2), 0.5, 0.5, c] for j, c in enumerate(cats)]
        np.save(base / "box" / f"{stem}.npy", np.array(rows, dtype=np.float64))
        _frame(base / "video" / f"{stem}.jpg", seed := seed + 1)
        _audio(base / "audio" / f"{stem}.wav", 1.0, seed)
    np.save(base / "box" / "00099.npy", np.array([[0, 0, .5, .5, 1]]))   # its frame and audio are missing
    for k in range(N_SYN_TRAIN + extra_synthetic):
        _frame(root / "synthetic" / "train" / "train" / "video" / f"{k:05d}.jpg", seed := seed + 1)
        _audio(root / "synthetic" / "train" / "train" / "audio" / f"{k:05d}.wav", 1.0, seed)
    return root


@pytest.fixture(scope="module")
def music_root(tmp_path_factory):
    return write_music(tmp_path_factory.mktemp("music"))


def test_released_annotation_files_load_unchanged(music_root):
    ann = read_annotations(music_root / "solotest.json")
    assert "4Oy5VmaacaI_0_1000/frame_013/00411.jpg" in ann
    ds = Music(music_root, "solo", "test", image_size=112)
    # 16 keys: 1 empty box list, 1 missing frame, 1 missing audio → 13 official test frames
    assert ds.total == 16 and len(ds) == 13
    assert ds.skipped.counts() == {"empty box list (skipped by the official evaluation)": 1,
                                   "frame file missing": 1, "audio file missing": 1}
    s = next(ds[i] for i in range(len(ds)) if ds.items[i]["key"] == "4Oy5VmaacaI_0_1000/frame_013/00411.jpg")
    assert s["frame"].shape == (112, 112, 3) and s["audio"].shape == (16000,) and s["audio"].dtype == np.float32
    # sparse id 11 → violin; pixel [x, y, w, h] = [4, 6, 32, 24] in 64×48 → [7, 14, 63, 70) at 112 px
    assert s["label"] == MUSIC_CLASSES.index("violin") and s["sounding_classes"] == [9]
    assert s["objects"] == [{"class": 9, "box": (7, 14, 63, 70), "sounding": True}]


def test_audio_is_the_frames_second_of_the_clip(music_root):
    ds = Music(music_root, "solo", "test")
    i = next(i for i in range(len(ds)) if ds.items[i]["key"].endswith("frame_013/00411.jpg"))
    whole, sr = sf.read(music_root / "solo" / "audio" / "4Oy5VmaacaI_0_1000.wav", dtype="float32")
    np.testing.assert_allclose(ds[i]["audio"], whole[13 * sr:14 * sr], atol=1e-4)


def test_sparse_ids_and_duet_frames_with_one_box(music_root):
    assert [class_of(c) for c in (1, 3, 8, 10, 11, 12, 13)] == [MUSIC_CLASSES.index(n) for n in (
        "cello", "acoustic_guitar", "saxophone", "trumpet", "violin", "flute", "accordion")]
    ds = Music(music_root, "duet", "test", image_size=64)
    assert ds.total == 5 and len(ds) == 4 and ds.skipped.counts() == {
        "empty box list (skipped by the official evaluation)": 1}
    by_key = {ds.items[i]["key"]: ds[i] for i in range(len(ds))}
    two, one = by_key["dUet0000001_0_1000/frame_000/00000.jpg"], by_key["dUet0000001_0_1000/frame_001/00025.jpg"]
    assert two["sounding_classes"] == [1, 2] and one["sounding_classes"] == [1] and one["kind"] == "duet"
    assert two["audio"].shape == (16000,)           # 22.05 kHz resampled


def test_synthetic_npy_boxes_and_training_splits(music_root):
    ds = Music(music_root, "synthetic", "test", image_size=112)
    assert len(ds) == 5 and ds.skipped.counts() == {"frame file missing": 1}
    s = ds[0]
    assert s["kind"] == "mosaic" and s["sounding_classes"] == [1, 2]
    assert [o["box"] for o in s["objects"]] == [(0, 0, 56, 56), (56, 0, 112, 56)]
    train = Music(music_root, "solo", "train")
    assert len(train) == 7 * N_TRAIN_SECONDS and train.skipped.counts() == {
        "video not in MUSIC_solo_videos.json": N_TRAIN_SECONDS}
    assert sorted({train[i]["label"] for i in range(0, len(train), N_TRAIN_SECONDS)}) == sorted(
        class_of(c) for c in SOLO_TRAIN.values() if c)
    assert not any(k.startswith(("4Oy5", "-_-T")) for k in (it["key"] for it in train.items))
    assert len(Music(music_root, "duet", "train")) == 3 * N_TRAIN_SECONDS
    assert len(Music(music_root, "synthetic", "train")) == N_SYN_TRAIN


def test_keep_subsamples_the_same_frames(music_root):
    a, b = Music(music_root, "solo", "train", keep=5), Music(music_root, "solo", "train", keep=5)
    assert len(a) == 5 and [x["key"] for x in a.items] == [x["key"] for x in b.items]


@pytest.mark.parametrize("entry,match", [
    ({"bbox": [], "wdith": 1, "height": 1}, "frame_<NNN>"),
    ({"wdith": 1, "height": 1}, "lacks a 'bbox' list"),
    ({"bbox": [], "width": 1, "height": 1}, "wdith"),
    ({"bbox": [{"box": [0, 0, 5], "normbox": [0, 0, .5], "category_id": 1}], "wdith": 9, "height": 9}, "normbox"),
    ({"bbox": [{"box": [0, 0, 0, 5], "normbox": [0, 0, 0, .5], "category_id": 1}], "wdith": 9, "height": 9},
     "non-positive"),
    ({"bbox": [{"box": [0, 0, 5, 5], "normbox": [0, 0, .5, .5], "category_id": 2}], "wdith": 9, "height": 9},
     "unknown category_id 2"),
])
def test_malformed_annotations_name_the_file_and_the_problem(tmp_path, entry, match):
    key = "vid/00001.jpg" if match == "frame_<NNN>" else "vid/frame_000/00001.jpg"
    (tmp_path / "solotest.json").write_text(json.dumps({key: entry}))
    with pytest.raises(MusicFormatError, match=match) as err:
        Music(tmp_path, "solo")
    assert "solotest.json" in str(err.value) and "Expected layout" in str(err.value)
    assert isinstance(err.value, DatasetFormatError)


def test_bad_files_and_folders(tmp_path):
    (tmp_path / "solotest.json").write_text("{not json")
    with pytest.raises(MusicFormatError, match="not valid JSON"):
        Music(tmp_path, "solo")
    with pytest.raises(MusicFormatError, match="data_root is not a folder"):
        Music(tmp_path / "nowhere", "duet")
    with pytest.raises(MusicFormatError, match="annotation file not found"):
        Music(tmp_path, "duet")
    with pytest.raises(MusicFormatError, match="box folder not found"):
        Music(tmp_path, "synthetic")
    with pytest.raises(ValueError, match="unknown MUSIC subset"):
        Music(tmp_path, "trio")
    (tmp_path / "synthetic" / "test1" / "box").mkdir(parents=True)
    np.save(tmp_path / "synthetic" / "test1" / "box" / "x.npy", np.zeros((2, 4)))
    with pytest.raises(MusicFormatError, match=r"expected \(n, 5\)"):
        Music(tmp_path, "synthetic")


def test_corrupt_image_is_reported(tmp_path):
    root = write_music(tmp_path / "m")
    (root / "solo" / "video_frames" / "-_-TDDxoaAc_0_1000" / "frame_000" / "00000.jpg").write_bytes(b"not a jpeg")
    ds = Music(root, "solo")
    i = next(i for i in range(len(ds)) if ds.items[i]["key"].startswith("-_-TDDxoaAc_0_1000/frame_000"))
    with pytest.raises(MusicFormatError, match="unreadable image"):
        ds[i]


# ---- AudioSet-instrument (audioset_box.json, as released) ------------------------------------

def write_audioset(root):
    """A tiny AudioSet-instrument root: the released key and box format, an empty box list, a missing frame."""
    ann = {"gp1DYuoQH08/6": {"bbox": [{"category": 11, "normbox": [0.25, 0.5, 0.5, 0.25]}]},
           "8LYWfpPUokc/3": {"bbox": [{"category": 2, "normbox": [0.0, 0.0, 0.5, 0.5]},
                                      {"category": 2, "normbox": [0.5, 0.5, 0.25, 0.25]}]},
           "8LYWfpPUokc/0": {"bbox": []},
           "kFC6E_1-JnQ/4": {"bbox": [{"category": 9, "normbox": [0.1, 0.1, 0.7, 0.7]}]}}   # no frame
    root.mkdir(parents=True, exist_ok=True)
    (root / "audioset_box.json").write_text(json.dumps(ann))
    for k, (ytid, sec) in enumerate((("gp1DYuoQH08", 6), ("8LYWfpPUokc", 3))):
        _frame(root / "video_frames" / ytid / f"frame_{sec:03d}" / f"{sec * 25:05d}.jpg", k)
        _audio(root / "audio" / f"{ytid}_30_40.wav", 10.0, k)
    _audio(root / "audio" / "kFC6E_1-JnQ_0_10.wav", 10.0, 5)
    return root


def test_audioset_instrument_loads_the_released_box_file(tmp_path):
    from avlib.datasets.audioset_instrument import AudioSetInstrument
    ds = AudioSetInstrument(write_audioset(tmp_path / "as"), image_size=112)
    assert ds.total == 4 and len(ds) == 2
    assert ds.skipped.counts() == {"empty box list": 1, "frame file missing": 1}
    s = {ds.items[i]["key"]: ds[i] for i in range(len(ds))}
    assert s["gp1DYuoQH08/6"]["objects"] == [{"class": 11, "box": (28, 56, 84, 84), "sounding": True}]
    assert s["8LYWfpPUokc/3"]["sounding_classes"] == [2] and len(s["8LYWfpPUokc/3"]["objects"]) == 2
    whole, sr = sf.read(tmp_path / "as" / "audio" / "gp1DYuoQH08_30_40.wav", dtype="float32")
    np.testing.assert_allclose(s["gp1DYuoQH08/6"]["audio"], whole[6 * sr:7 * sr], atol=1e-4)


@pytest.mark.parametrize("ann,match", [({"x/1": {"bbox": [{"category": 13, "normbox": [0, 0, .1, .1]}]}}, "category"),
                                       ({"x": {"bbox": []}}, "<ytid>/<second>"),
                                       ({"x/1": {"bbox": [{"category": 1, "box": [0, 0, 1, 1]}]}}, "normbox")])
def test_audioset_instrument_bad_box_files(tmp_path, ann, match):
    from avlib.datasets.audioset_instrument import AudioSetInstrument
    (tmp_path / "audioset_box.json").write_text(json.dumps(ann))
    with pytest.raises(DatasetFormatError, match=match) as err:
        AudioSetInstrument(tmp_path)
    assert "audioset_box.json" in str(err.value) and "Expected layout" in str(err.value)


def test_normbox_to_pixels_is_the_official_int_slice():
    """``box = np.array(normbox) * 224; gtmap[int(box[1]):int(box[1] + box[3]), int(box[0]):int(box[0] + box[2])]``:
    truncation (not rounding), and a negative start counts from the far edge."""
    from avlib.datasets.music import _norm_to_box
    assert _norm_to_box([0.1, 0.2, 0.30, 0.25], 224) == (22, 44, 89, 100)   # 22.4, 44.8, 22.4 + 67.2, 44.8 + 56
    assert _norm_to_box([0.999, 0.5, 0.2, 0.1], 224) == (223, 112, 224, 134)  # cut at the edge
    x0, y0, x1, y1 = _norm_to_box([-0.05, 0.0, 0.5, 0.5], 224)               # int(-11.2) = -11 → 213:100, empty
    assert (x0, x1) == (213, 213) and (y0, y1) == (0, 112)
