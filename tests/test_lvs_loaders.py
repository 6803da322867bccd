"""VGG-SS and Flickr-SoundNet loaders on tiny files written in the public formats, good and bad."""
import json
import warnings

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from avlib.datasets.flickr import FlickrSoundNet, parse_flickr_xml
from avlib.datasets.vggss import VGGSS, DatasetFormatError, clean_boxes
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


def test_vggss_clamps_and_counts_corrupt_boxes(tmp_path):
    root = _vggss(tmp_path, [{"file": "a", "class": "c", "bbox": [[0.1, 0.1, 3.4e38, 12345.0]]},   # clamped
                             {"file": "b", "class": "c", "bbox": [[2.0, 2.0, 5.0, 5.0], [0.0, 0.0, 1, 1]]},  # 1 skipped
                             {"file": "d", "class": "c", "bbox": [[7e8, 0.2, 9e9, 0.4]]}])  # dropped entry
    with pytest.warns(UserWarning, match=r"3 boxes with coordinates outside 0..1 clamped, 2 empty boxes skipped, "
                                         r"1 entries left without a box dropped"):
        ds = VGGSS(root, image_size=10, load_media=False)
    assert (ds.clamped, ds.skipped, ds.dropped) == (3, 2, 1) and len(ds) == 2
    assert ds[0]["box"] == (1, 1, 10, 10)
    kept, c, s = clean_boxes([[-0.5, 0, 0.5, 1]])
    assert c == 1 and s == 0 and kept[0].tolist() == [0, 0, 0.5, 1]


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
    with pytest.raises(DatasetFormatError, match="audio file not found"):
        VGGSS(root)[0]
    (root / "vggss" / "frames" / "a.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetFormatError, match="unreadable image"):
        VGGSS(root)[0]


XML = """<annotation>
  <filename>{name}.jpg</filename>
  <object><bbox><label>1</label><xmin>0</xmin><ymin>0</ymin><xmax>128</xmax><ymax>128</ymax></bbox></object>
  <object><bbox><label>2</label><xmin>64</xmin><ymin>64</ymin><xmax>192</xmax><ymax>192</ymax></bbox></object>
  <object><bbox><label>3</label><xmin>0</xmin><ymin>0</ymin><xmax>128</xmax><ymax>128</ymax></bbox></object>
</annotation>"""


def _flickr(root, names, xml=XML):
    d = root / "flickr"
    (d / "Annotations").mkdir(parents=True, exist_ok=True)
    for n in names:
        (d / "Annotations" / f"{n}.xml").write_text(xml.format(name=n))
        _media(d, n)
    return root


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
    # out-of-range coordinates are clamped and counted
    root = _flickr(tmp_path / "r", ["a"], xml=XML.replace("<xmax>192</xmax>", "<xmax>9999</xmax>"))
    with pytest.warns(UserWarning, match="1 boxes outside 0..256 clamped"):
        ds = FlickrSoundNet(root, image_size=8, load_media=False)
    assert ds[0]["annotator_boxes"][1] == (2, 2, 8, 6)
