"""Real data with corrupt values (issue 22): a NaN, an infinite and a huge coordinate in every loader that
reads boxes is named and counted, never a traceback; a file cut at a line boundary, or otherwise changed, is
named as differing from the released file; AVEL's ``labels.h5`` name is accepted.

The fixtures are the released-format writers of the loaders' own tests.
"""
import json
import math

import numpy as np
import pytest
from test_ave_loader import write_ave
from test_dcase_loader import write_root as write_dcase
from test_lvs_loaders import _flickr, _vggss
from test_music_loader import write_audioset, write_music

from avlib.datasets import released
from avlib.datasets.audioset_instrument import AudioSetInstrument
from avlib.datasets.ave import AVEFormatError, load_ave
from avlib.datasets.dcase import SPLIT_FILES, DCASE2017Task4
from avlib.datasets.flickr import FlickrSoundNet
from avlib.datasets.io import SkipLog, corrupt_coordinate
from avlib.datasets.music import Music
from avlib.datasets.vggss import VGGSS
from avlib.experiments import psp
from avlib.repro import check_data_root, provenance

NAN, INF, HUGE = float("nan"), float("inf"), -2.8823037615171176e16
BAD = {"nan": NAN, "inf": INF, "huge": HUGE}


def test_corrupt_coordinate_rule():
    assert corrupt_coordinate([0.1, 0.2, 0.9, 1.0]) is None
    assert corrupt_coordinate([-0.05, 0, 1.02, 1]) is None            # just outside: cut at the edge, not corrupt
    assert "non-finite" in corrupt_coordinate([0, NAN, 1, 1])
    assert "non-finite" in corrupt_coordinate([0, 0, INF, 1])
    assert "far outside" in corrupt_coordinate([HUGE, 0, 1, 1])
    assert "far outside" in corrupt_coordinate([0, 0, 600, 10], extent=256)
    assert corrupt_coordinate([0, 0, 300, 10], extent=256) is None


@pytest.mark.parametrize("kind", ["nan", "inf"])
def test_vggss_non_finite_box_is_dropped_named_and_counted(tmp_path, kind):
    v = BAD[kind]
    root = _vggss(tmp_path, [{"file": "ok", "class": "c", "bbox": [[0.1, 0.1, 0.6, 0.6]]},
                             {"file": "one_bad", "class": "c", "bbox": [[v, 0.1, 0.6, 0.6], [0, 0, 0.5, 0.5]]},
                             {"file": "all_bad", "class": "c", "bbox": [[0.1, v, 0.6, 0.6]]}])
    ds = VGGSS(root, image_size=10, load_media=False)
    assert len(ds) == 3                                                # kept: the official denominator
    notes = ds.box_notes.counts()
    assert notes["box dropped: non-finite coordinate (NaN or infinite)"] == 2
    assert notes["entry with no non-empty box: kept, empty ground truth (a failure)"] == 1
    assert "one_bad" in ds.box_notes.frame()["examples"].str.cat()
    assert ds[1]["boxes"] == [(0, 0, 5, 5)] and ds[2]["boxes"] == []


def test_vggss_huge_coordinate_keeps_the_official_conversion(tmp_path):
    root = _vggss(tmp_path, [{"file": "a", "class": "c", "bbox": [[0.4, 0.66, HUGE, 0.98]]}])
    ds = VGGSS(root, image_size=10, load_media=False)
    assert ds[0]["boxes"] == [] and ds.box_notes.counts()["box empty at 224 px (draws nothing, as officially)"] == 1


@pytest.mark.parametrize("text, reason", [("nan", "non-finite"), ("inf", "non-finite"), ("1e400", "non-finite")])
def test_flickr_non_finite_coordinate_is_dropped_named_and_counted(tmp_path, text, reason):
    xml = ("<annotation><filename>{name}.jpg</filename>"
           "<object><bbox><label>1</label><xmin>0</xmin><ymin>0</ymin><xmax>128</xmax><ymax>128</ymax></bbox></object>"
           f"<object><bbox><label>2</label><xmin>{text}</xmin><ymin>0</ymin><xmax>128</xmax><ymax>128</ymax></bbox>"
           "</object></annotation>")
    ds = FlickrSoundNet(_flickr(tmp_path, ["111", "222"], xml=xml), image_size=8, load_media=False)
    assert len(ds) == 2 and all(len(ds[i]["annotator_boxes"]) == 1 for i in range(2))
    (reason_text, count), = ds.box_notes.counts().items()
    assert reason in reason_text and count == 2


def test_flickr_image_whose_every_box_is_corrupt_is_skipped_and_counted(tmp_path):
    xml = ("<annotation><object><bbox><label>1</label><xmin>nan</xmin><ymin>0</ymin><xmax>1</xmax><ymax>1</ymax>"
           "</bbox></object></annotation>")
    root = _flickr(tmp_path, ["111"])
    _flickr(root, ["333"], xml=xml)
    ds = FlickrSoundNet(root, image_size=8, load_media=False)
    assert len(ds) == 1 and ds.skipped.counts() == {"every box dropped (non-finite coordinates)": 1}


def _corrupt_music(root, where: str, value: float):
    """Put ``value`` into the first box of the first non-empty duet key (``where``: normbox index 0 or 2)."""
    path = root / "duettest.json"
    ann = json.loads(path.read_text())
    key = next(k for k in sorted(ann) if len(ann[k]["bbox"]) == 2)
    ann[key]["bbox"][0]["normbox"][{"x": 0, "w": 2}[where]] = value
    path.write_text(json.dumps(ann))          # json writes NaN / Infinity, as Python's json reads them
    return key


@pytest.fixture(scope="module")
def music_root(tmp_path_factory):
    return write_music(tmp_path_factory.mktemp("music") / "MUSIC")


@pytest.mark.parametrize("kind, where", [("nan", "x"), ("inf", "w"), ("huge", "x")])
def test_music_corrupt_normbox_is_dropped_named_and_counted(music_root, tmp_path, kind, where):
    import shutil
    root = tmp_path / "MUSIC"
    shutil.copytree(music_root, root)
    key = _corrupt_music(root, where, BAD[kind])
    clean = Music(music_root, "duet")
    ds = Music(root, "duet")
    (reason, count), = ds.box_notes.counts().items()
    assert count == 1 and reason.startswith("box dropped: ") and ("non-finite" in reason or "far outside" in reason)
    assert key in ds.box_notes.frame()["examples"].str.cat()
    assert len(ds) == len(clean)                                   # the frame keeps its other box
    i = next(i for i, it in enumerate(ds.items) if it["key"] == key)
    assert len(ds[i]["objects"]) == 1 and all(0 <= c <= 112 for o in ds[i]["objects"] for c in o["box"])
    assert "differs from the released file" in ds.skipped.files["duettest.json"]


def test_music_frame_whose_every_box_is_corrupt_is_skipped(music_root, tmp_path):
    import shutil
    root = tmp_path / "MUSIC"
    shutil.copytree(music_root, root)
    ann = json.loads((root / "duettest.json").read_text())
    key = next(k for k in sorted(ann) if len(ann[k]["bbox"]) == 1)
    ann[key]["bbox"][0]["normbox"][1] = NAN
    (root / "duettest.json").write_text(json.dumps(ann))
    ds = Music(root, "duet")
    assert ds.skipped.counts()["every box dropped (corrupt or empty coordinates)"] == 1
    assert key not in {it["key"] for it in ds.items}


@pytest.mark.parametrize("kind", ["nan", "inf", "huge"])
def test_audioset_corrupt_normbox_is_dropped_named_and_counted(tmp_path, kind):
    root = write_audioset(tmp_path / "as")
    ann = json.loads((root / "audioset_box.json").read_text())
    ann["8LYWfpPUokc/3"]["bbox"][1]["normbox"][0] = BAD[kind]
    (root / "audioset_box.json").write_text(json.dumps(ann))
    ds = AudioSetInstrument(root, image_size=112)
    assert len(ds) == 2 and sum(ds.box_notes.counts().values()) == 1
    s = {ds.items[i]["key"]: ds[i] for i in range(len(ds))}
    assert len(s["8LYWfpPUokc/3"]["objects"]) == 1


def test_music_synthetic_npy_with_a_nan_row(music_root, tmp_path):
    import shutil
    root = tmp_path / "MUSIC"
    shutil.copytree(music_root, root)
    p = root / "synthetic" / "test1" / "box" / "00000.npy"
    rows = np.load(p)
    rows[0, 0] = NAN
    np.save(p, rows)
    ds = Music(root, "synthetic")
    assert sum(ds.box_notes.counts().values()) == 1
    assert all(math.isfinite(c) for i in range(len(ds)) for o in ds[i]["objects"] for c in o["box"])


# ---- released files ---------------------------------------------------------------------------

@pytest.fixture
def registered(monkeypatch):
    """Register a file's current bytes as "the released file" of its name, with ``count`` units."""
    def register(path, count, unit):
        rel = released.ReleasedFile("test", path.stat().st_size, released._sha256(path), count, unit)
        monkeypatch.setitem(released.RELEASED_FILES, path.name, (rel,))
    return register


def test_released_status_words(tmp_path, registered):
    f = tmp_path / "vggss.json"
    f.write_text("[1, 2, 3]")
    registered(f, 3, "entries")
    assert released.released_status(f) == "the released file"
    f.write_text("[1, 2]")
    assert released.released_status(f, 2) == "differs from the released file (2 entries, expected 3)"
    assert released.released_status(f) == "differs from the released file (6 bytes, expected 9)"
    other = tmp_path / "mine.json"
    other.write_text("{}")
    assert released.released_status(other) == "no released version known"
    assert released.released_files(tmp_path) == {"vggss.json": "differs from the released file (6 bytes, expected 9)"}


def test_released_table_is_well_formed():
    for name, copies in released.RELEASED_FILES.items():
        for r in copies:
            assert len(r.sha256) == 64 and int(r.sha256, 16) >= 0 and r.bytes > 0 and r.count > 0
            assert r.source.endswith(name) or name in r.source


def test_dcase_csv_cut_at_a_line_boundary_is_named(tmp_path, registered):
    clips = {f"clip{k:04d}_0.000_10.000.wav": ["Bus"] for k in range(6)}
    root = write_dcase(tmp_path, clips=clips)
    path = root / SPLIT_FILES["train"]
    registered(path, 6, "clips")
    ds = DCASE2017Task4(root, "train")
    assert ds.file_status == "the released file"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:4]))                              # cut at a line boundary: still parses
    ds = DCASE2017Task4(root, "train")
    assert ds.listed == 4 and ds.file_status == "differs from the released file (4 clips, expected 6)"
    assert "differs from the released file (4 clips, expected 6)" in " ".join(ds.skip_table()["reason"])
    from avlib.experiments.mil import skip_summary
    assert skip_summary({"train": ds}).loc["train", "label file"] == ds.file_status


def test_provenance_names_released_and_modified_files(tmp_path, registered):
    root = _vggss(tmp_path, [{"file": "a", "class": "c", "bbox": [[0, 0, 1, 1]]}])
    registered(root / "vggss" / "vggss.json", 1, "entries")
    info = provenance("smoke", "cpu", [0], data_root=root)
    assert info["data_files"] == {"vggss/vggss.json": "the released file"}
    ds = VGGSS(root, load_media=False)
    assert ds.skipped.files == {"vggss.json": "the released file"}
    assert "vggss.json: the released file" in " ".join(ds.skipped.frame()["reason"])
    assert provenance("smoke", "cpu", [0])["data_files"] is None


def test_skiplog_file_rows_are_not_counted_as_skipped(tmp_path):
    log = SkipLog("clips")
    f = tmp_path / "groundtruth_weak_label_training_set.csv"
    f.write_text("x\n")
    log.file(f, 1)
    assert len(log) == 0 and "differs from the released file (1 clips, expected 51,172)" in str(log)


# ---- AVE under AVEL's file name ------------------------------------------------------------------

def test_ave_accepts_avels_labels_h5(tmp_path):
    root = write_ave(tmp_path / "psp")
    expected = load_ave(root)
    avel = tmp_path / "avel"
    root.rename(avel)
    (avel / "right_labels.h5").rename(avel / "labels.h5")
    got = load_ave(avel)
    np.testing.assert_array_equal(got["segment_labels"], expected["segment_labels"])
    assert "labels.h5" in got["skipped"].files and check_data_root(avel, psp.DATA_LAYOUT) == avel
    (avel / "labels.h5").unlink()
    with pytest.raises(AVEFormatError, match="labels.h5"):
        load_ave(avel)
    with pytest.raises(ValueError, match="right_labels.h5 or labels.h5"):
        check_data_root(avel, psp.DATA_LAYOUT)
