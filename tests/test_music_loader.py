"""The MUSIC loader on tiny files in the official DSOL annotation format, and on bad ones."""
import json

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from avlib.datasets.music import Music, MusicFormatError, read_annotations


def _write(root, subset="duet", ann=None, sr=16000, seconds=1.0, frames=True, audio=True):
    base = root / subset
    ann = ann if ann is not None else {
        "vidA/frame/00001.jpg": {"bbox": [
            {"box": [0, 0, 100, 50], "normbox": [0, 0, .5, .5], "category_id": 1},
            {"box": [100, 50, 100, 50], "normbox": [.5, .5, 1, 1], "category_id": 9, "sounding": False}],
            "wdith": 200, "height": 100},
        "vidB/frame/00002.jpg": {"bbox": [{"box": [50, 25, 100, 50], "normbox": [], "category_id": 2}],
                                 "wdith": 200, "height": 100}}
    base.mkdir(parents=True, exist_ok=True)
    (base / "annotations.json").write_text(json.dumps(ann))
    for key in ann if (frames or audio) else ():
        video, _, fname = key.split("/")
        if frames:
            (base / "frames" / video / "frame").mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((100, 200, 3), 120, np.uint8)).save(base / "frames" / key)
        if audio:
            (base / "audio" / video).mkdir(parents=True, exist_ok=True)
            t = np.arange(int(sr * seconds)) / sr
            sf.write(base / "audio" / video / fname.replace(".jpg", ".wav"), 0.1 * np.sin(2 * np.pi * 440 * t), sr)
    return root


def test_loads_the_official_format_into_the_world_structure(tmp_path):
    ds = Music(_write(tmp_path), "duet", image_size=56)
    assert len(ds) == 2 and ds.num_classes == 11
    s = ds[0]
    assert s["frame"].shape == (56, 56, 3) and s["frame"].dtype == np.uint8
    assert s["audio"].shape == (16000,) and s["audio"].dtype == np.float32
    # [x, y, w, h] in 200×100 px → [x0, y0, x1, y1) in 56×56 px
    assert s["objects"][0] == {"class": 1, "box": (0, 0, 28, 28), "sounding": True}
    assert s["objects"][1]["box"] == (28, 28, 56, 56) and not s["objects"][1]["sounding"]
    assert s["sounding_classes"] == [1] and s["silent_classes"] == [9] and s["kind"] == "duet"


def test_resamples_audio_and_solo_has_a_label(tmp_path):
    root = _write(tmp_path, "solo", sr=22050)
    s = Music(root, "solo")[1]
    assert s["audio"].shape == (16000,) and s["label"] == 2


def test_id_base_shifts_category_ids(tmp_path):
    s = Music(_write(tmp_path), "duet", id_base=1)[0]
    assert [o["class"] for o in s["objects"]] == [0, 8]


@pytest.mark.parametrize("ann,match", [
    ({"vidA/00001.jpg": {"bbox": [], "wdith": 1, "height": 1}}, "video/frame/xxxxx.jpg"),
    ({"vidA/frame/00001.jpg": {"wdith": 1, "height": 1}}, "lacks a 'bbox' list"),
    ({"vidA/frame/00001.jpg": {"bbox": [], "width": 1, "height": 1}}, "wdith"),
    ({"vidA/frame/00001.jpg": {"bbox": [{"box": [0, 0, 5], "category_id": 0}], "wdith": 9, "height": 9}}, r"\[x, y, w, h\]"),
    ({"vidA/frame/00001.jpg": {"bbox": [{"box": [0, 0, 0, 5], "category_id": 0}], "wdith": 9, "height": 9}}, "non-positive"),
    ({"vidA/frame/00001.jpg": {"bbox": [{"box": [0, 0, 5, 5]}], "wdith": 9, "height": 9}}, "category_id"),
    ({}, "non-empty"),
])
def test_malformed_annotations_name_the_file_and_the_problem(tmp_path, ann, match):
    _write(tmp_path, ann=ann, frames=False, audio=False)
    with pytest.raises(MusicFormatError, match=match) as err:
        Music(tmp_path, "duet")
    assert "annotations.json" in str(err.value) and "Expected layout" in str(err.value)


def test_not_json_and_missing_files(tmp_path):
    (tmp_path / "duet").mkdir()
    (tmp_path / "duet" / "annotations.json").write_text("{not json")
    with pytest.raises(MusicFormatError, match="not valid JSON"):
        read_annotations(tmp_path / "duet" / "annotations.json")
    with pytest.raises(MusicFormatError, match="data_root is not a folder"):
        Music(tmp_path / "nowhere", "duet")
    with pytest.raises(MusicFormatError, match="subset folder 'solo' missing"):
        Music(tmp_path, "solo")
    with pytest.raises(ValueError, match="unknown MUSIC subset"):
        Music(tmp_path, "trio")


def test_unknown_category_and_missing_media(tmp_path):
    bad = {"v/frame/00001.jpg": {"bbox": [{"box": [0, 0, 5, 5], "category_id": 11}], "wdith": 9, "height": 9}}
    _write(tmp_path / "a", ann=bad)
    with pytest.raises(MusicFormatError, match="category_id 11"):
        Music(tmp_path / "a", "duet")
    ds = Music(_write(tmp_path / "b", frames=False), "duet")
    with pytest.raises(MusicFormatError, match="frame file not found"):
        ds[0]
    ds = Music(_write(tmp_path / "c", audio=False), "duet")
    with pytest.raises(MusicFormatError, match="audio file not found"):
        ds[0]
    ds = Music(_write(tmp_path / "d", seconds=0.5), "duet")
    with pytest.raises(MusicFormatError, match="shorter than 1 s"):
        ds[0]


def test_corrupt_image_is_reported(tmp_path):
    root = _write(tmp_path)
    (root / "duet" / "frames" / "vidA" / "frame" / "00001.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(MusicFormatError, match="unreadable image"):
        Music(root, "duet")[0]
