"""VGG-SS and Flickr-SoundNet loaders on tiny files written in the public formats, good and bad."""
import json
import warnings

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from avlib.datasets.flickr import FlickrSoundNet, parse_flickr_xml
from avlib.datasets.io import DatasetFormatError
from avlib.datasets.vggss import VGGSS
from avlib.metrics.localization import consensus_mask, union_mask


def _media(folder, name, size=(64, 48), seconds=0.5, sr=22050):
    (folder / "frames").mkdir(parents=True, exist_ok=True)
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), 200, np.uint8)).save(folder / "frames" / f"{name}.jpg")
    t = np.arange(int(sr * seconds)) / sr
    sf.write(folder / "audio" / f"{name}.wav", np.stack([np.sin(2 * np.pi * 440 * t)] * 2, 1) * 0.5, sr)


def _vggss(root, entries):
    d = root / "vggss"
    d.mkdir(parents=True, exist_ok=True)
    (d / "vggss.json").write_text(json.dumps(entries))
    for e in entries:
        _media(d, e["file"])
    return root


def test_vggss_reads_the_official_json(tmp_path):
    root = _vggss(tmp_path, [{"file": "abc_000030", "class": "dog barking", "bbox": [[0.25, 0.5, 0.75, 1.0]]},
                             {"file": "xyz_000010", "class": "playing violin",
                              "bbox": [[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0]]}])
    with warnings.catch_warnings():
        warnings.simplefilter("error")              # clean files: no warning
        ds = VGGSS(root, image_size=8)
    assert len(ds) == 2 and ds.classes == ("dog barking", "playing violin")
    s = ds[0]
    assert s["frame"].shape == (8, 8, 3) and s["frame"].dtype == np.uint8
    assert s["audio"].shape == (16000,) and s["audio"].dtype == np.float32   # 0.5 s at 22.05 kHz tiled to 1 s
    assert s["box"] == (2, 4, 6, 8)
    g = union_mask([ds[1]["boxes"]], 8)[0]
    assert g.sum() == 32


def test_vggss_keeps_entries_without_a_valid_box_as_the_official_evaluation(tmp_path):
    # the released corrupt coordinate is -2.88e16; int(224 * max(x, 0)) makes it 0 (utils.testset_gt)
    root = _vggss(tmp_path, [{"file": "a", "class": "c", "bbox": [[0.1, 0.1, 3.4e38, 12345.0]]},   # cut at 1
                             {"file": "b", "class": "c", "bbox": [[0.38, 0.86, 0.7, -2.88e16], [0.0, 0.0, 1, 1]]},
                             {"file": "d", "class": "c", "bbox": [[0.27, 1.0, 0.75, 1.0]]},           # empty: kept
                             {"file": "e", "class": "c", "bbox": [[0.4, 0.66, -2.88e16, 0.98]]}])     # empty: kept
    with warnings.catch_warnings():
        warnings.simplefilter("error")              # counted in box_notes, not warned on stderr
        ds = VGGSS(root, image_size=10, load_media=False)
    assert len(ds) == ds.listed == 4 and len(ds.skipped) == 0       # the official denominator: every entry
    notes = ds.box_notes.counts()
    assert notes["box with a coordinate outside 0..1 (official: max(x, 0), cut at 1)"] == 3
    assert notes["box empty at 224 px (draws nothing, as officially)"] == 3
    assert notes["entry with no non-empty box: kept, empty ground truth (a failure)"] == 2
    assert ds[0]["box"] == (1, 1, 10, 10)
    assert ds[1]["boxes"] == [(0, 0, 10, 10)]
    assert ds[2]["boxes"] == [] and ds[2]["box"] is None
    # an empty ground truth scores cIoU 0 against any prediction (never NaN: the max is always predicted)
    from avlib.metrics.localization import evaluate_maps
    gt = union_mask([np.asarray(ds[i]["boxes"], float).reshape(-1, 4) for i in range(4)], 10)
    assert gt[2].sum() == 0 and gt[3].sum() == 0
    res = evaluate_maps(np.random.default_rng(0).random((4, 5, 5)), gt)
    assert res["ious"][2] == 0 and res["ious"][3] == 0 and len(res["ious"]) == 4


def test_vggss_official_int_conversion(tmp_path):
    # int(S * x), not floor(x * S + 1e-9): 0.7 * 10 = 7.000000000000001 -> 7, 0.29 * 100 = 28.999999999999996 -> 28
    root = _vggss(tmp_path, [{"file": "a", "class": "c", "bbox": [[0.29, 0.0, 0.57, 1.0]]}])
    ds = VGGSS(root, image_size=100, load_media=False)
    assert ds[0]["box"] == (int(100 * 0.29), 0, int(100 * 0.57), 100) == (28, 0, 56, 100)


def test_vggss_skips_and_counts_missing_media(tmp_path):
    root = _vggss(tmp_path, [{"file": "a", "class": "c", "bbox": [[0, 0, 1, 1]]},
                             {"file": "b", "class": "c", "bbox": [[0, 0, 1, 1]]}])
    (root / "vggss" / "audio" / "b.wav").unlink()
    ds = VGGSS(root, load_media=False)
    assert ds.listed == 2 and len(ds) == 1 and ds.skipped.counts() == {"audio/<file>.wav missing": 1}
    assert "1 clips skipped" in str(ds.skipped)


@pytest.mark.parametrize("content, match", [
    ("{not json", "not valid JSON"),
    ("[]", "non-empty JSON list"),
    ('[{"class": "x", "bbox": []}]', "'file' string"),
    ('[{"file": "a", "bbox": [[0, 0, 1]]}]', "xmin, ymin, xmax, ymax"),
])
def test_vggss_bad_json(tmp_path, content, match):
    (tmp_path / "vggss").mkdir()
    (tmp_path / "vggss" / "vggss.json").write_text(content)
    with pytest.raises(DatasetFormatError, match=match):
        VGGSS(tmp_path)


def test_vggss_missing_files(tmp_path):
    with pytest.raises(DatasetFormatError, match="not a folder"):
        VGGSS(tmp_path / "nowhere")
    with pytest.raises(DatasetFormatError, match="annotation file not found"):
        VGGSS(tmp_path)
    root = _vggss(tmp_path, [{"file": "a", "class": "c", "bbox": [[0, 0, 1, 1]]}])
    (root / "vggss" / "audio" / "a.wav").unlink()
    with pytest.raises(DatasetFormatError, match="none of the 1 entries has its frame and audio"):
        VGGSS(root)
    _vggss(tmp_path, [{"file": "a", "class": "c", "bbox": [[0, 0, 1, 1]]}])
    (root / "vggss" / "frames" / "a.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetFormatError, match="unreadable image"):
        VGGSS(root)[0]


XML = """<annotation>
  <filename>{name}.jpg</filename>
  <object><bbox><label>1</label><xmin>0</xmin><ymin>0</ymin><xmax>128</xmax><ymax>128</ymax></bbox></object>
  <object><bbox><label>2</label><xmin>64</xmin><ymin>64</ymin><xmax>192</xmax><ymax>192</ymax></bbox></object>
  <object><bbox><label>3</label><xmin>0</xmin><ymin>0</ymin><xmax>128</xmax><ymax>128</ymax></bbox></object>
</annotation>"""


def _flickr(root, names, xml=XML, listed=None):
    """XMLs for ``names`` (with media); ``listed``: ids written to flickr_test.csv as the release ('<id>,<n>' CRLF)."""
    d = root / "flickr"
    (d / "Annotations").mkdir(parents=True, exist_ok=True)
    for n in names:
        (d / "Annotations" / f"{n}.xml").write_text(xml.format(name=n))
        _media(d, n)
    if listed is not None:
        (d / "flickr_test.csv").write_bytes("".join(f"{i},{k * 7}\r\n" for k, i in enumerate(listed)).encode())
    return root


def test_flickr_reads_only_the_official_test_list(tmp_path):
    root = _flickr(tmp_path, ["10000130166", "10007936344", "20000", "30000", "40000"],
                   listed=["10007936344", "10000130166", "30000"])
    ds = FlickrSoundNet(root, image_size=8, load_media=False)
    assert ds.listed == 3 and len(ds) == 3 and [it["name"] for it in ds.items] == ["10007936344", "10000130166", "30000"]
    assert ds.test_list.startswith("flickr_test.csv (3 ids")
    (root / "flickr" / "audio" / "30000.wav").unlink()                 # missing media: skipped and counted
    ds = FlickrSoundNet(root, image_size=8, load_media=False)
    assert len(ds) == 2 and ds.skipped.counts() == {"audio/<id>.wav missing": 1}
    (root / "flickr" / "Annotations" / "10000130166.xml").unlink()     # a listed id without XML: an error
    with pytest.raises(DatasetFormatError, match=r"1 ids of flickr_test.csv have no annotation XML"):
        FlickrSoundNet(root)
    (root / "flickr" / "flickr_test.csv").unlink()                     # no list: every XML, said so
    ds = FlickrSoundNet(root, load_media=False)
    assert ds.listed == 4 and "NOT the official 249-image test list" in ds.test_list


def test_flickr_reads_annotators_and_builds_the_consensus(tmp_path):
    root = _flickr(tmp_path, ["10000130166", "20000"])
    ds = FlickrSoundNet(root, image_size=8)
    assert len(ds) == 2
    s = ds[0]
    assert s["annotator_boxes"] == [(0, 0, 4, 4), (2, 2, 6, 6), (0, 0, 4, 4)]   # 256-px → 8-px
    assert s["frame"].shape == (8, 8, 3) and s["audio"].shape == (16000,)
    G = consensus_mask(s["annotator_boxes"], 8)
    assert G[1, 1] == 1.0 and G[5, 5] == 0.5 and G[7, 7] == 0.0


def test_flickr_positional_rule_of_the_official_code(tmp_path):
    f = tmp_path / "x.xml"
    f.write_text("<a><o><bbox><c>9</c><p>10</p><q>20</q><r>30</r><s>40</s></bbox></o></a>")
    assert parse_flickr_xml(f) == [[10, 20, 30, 40]]


def test_flickr_bad_files(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<annotation><object><bbox>")
    with pytest.raises(DatasetFormatError, match="not well-formed XML"):
        parse_flickr_xml(bad)
    bad.write_text("<annotation><object><bbox><l>1</l><xmin>a</xmin><ymin>0</ymin><xmax>1</xmax><ymax>1</ymax>"
                   "</bbox></object></annotation>")
    with pytest.raises(DatasetFormatError, match="non-numeric"):
        parse_flickr_xml(bad)
    bad.write_text("<annotation><filename>x</filename></annotation>")
    with pytest.raises(DatasetFormatError, match="no <bbox>"):
        parse_flickr_xml(bad)
    with pytest.raises(DatasetFormatError, match="annotation folder missing"):
        FlickrSoundNet(tmp_path)
    # out-of-range coordinates are cut at the image edge and counted
    root = _flickr(tmp_path / "r", ["a"], xml=XML.replace("<xmax>192</xmax>", "<xmax>9999</xmax>"))
    ds = FlickrSoundNet(root, image_size=8, load_media=False)
    assert ds.box_notes.counts() == {"box coordinate outside 0..256 (official int() and slicing: cut at the edge; "
                                     "-2 or less counts from the far edge)": 1}
    assert ds[0]["annotator_boxes"][1] == (2, 2, 8, 6)


def test_flickr_official_int_conversion(tmp_path):
    # int(224 * int(v) / 256), e.g. v = 37 -> int(32.375) = 32; at S = 100: int(14.453125) = 14
    root = _flickr(tmp_path, ["a"], xml=XML.replace("<xmin>64</xmin>", "<xmin>37</xmin>"))
    assert FlickrSoundNet(root, image_size=224, load_media=False)[0]["annotator_boxes"][1][0] == 32
    assert FlickrSoundNet(root, image_size=100, load_media=False)[0]["annotator_boxes"][1][0] == 14


@pytest.mark.parametrize("xmin, filled", [(-1, (0, 8)), (-2, None), (-5, None)])
def test_flickr_negative_coordinates_follow_the_official_slicing(tmp_path, xmin, filled):
    """int(224 * v / 256) truncates toward 0: -1 → 0 (harmless), -2 → -1 and -5 → -4, negative indices that
    count from the far edge, so ``gt[:, -1:x1]`` fills nothing when x1 < 223, as in the official testset_gt."""
    root = _flickr(tmp_path, ["a"], xml=XML.replace("<xmin>0</xmin>", f"<xmin>{xmin}</xmin>", 1))
    box = FlickrSoundNet(root, image_size=224, load_media=False)[0]["annotator_boxes"][0]
    x0, y0, x1, y1 = box
    assert (y0, y1) == (0, 112)
    if filled is None:
        assert x1 == x0 and x0 == 224 + int(224 * xmin / 256)                 # an empty slice
    else:
        assert (x0, x1) == (0, 112)
