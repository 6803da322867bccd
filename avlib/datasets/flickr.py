"""Flickr-SoundNet sound-source test set loader (Senocak et al. 2018; Chen et al. 2021).

Layout under ``data_root``::

    <data_root>/flickr/flickr_test.csv          (the official test list; optional, see below)
    <data_root>/flickr/Annotations/<id>.xml     (one file per annotated image; the release has 5,000)
    <data_root>/flickr/frames/<id>.jpg
    <data_root>/flickr/audio/<id>.wav

**Test list.** The official LVS evaluation (``datasets/dataloader.py`` of
hche11/Localizing-Visual-Sounds-the-Hard-Way) evaluates the 249 images listed in
``metadata/flickr_test.csv``: comma-separated rows ``<id>,<n>`` (CRLF line ends; only the first
column is read, ``item[0]``), e.g. ``10000130166,202``. Copy that file to
``flickr/flickr_test.csv``; the loader reads it when present and evaluates exactly those ids.
Without it every XML in ``Annotations/`` is evaluated and :attr:`FlickrSoundNet.test_list` says so
(the release's 5,000 XMLs are *not* the paper's test set). A listed id without its XML is an
error (the official ``testset_gt`` cannot evaluate it either); a listed id whose frame or audio
is missing is **skipped and counted** in :attr:`FlickrSoundNet.skipped` (a
:class:`~avlib.datasets.io.SkipLog`) so that the chapter shows it.

**Boxes.** Each XML holds several annotators' boxes in 256×256-pixel coordinates. The official
``testset_gt`` (``utils.py``) walks ``root → child → <bbox>`` and reads the bbox's children after
the first as ``xmin, ymin, xmax, ymax``; this loader reads the ``xmin``/``ymin``/``xmax``/``ymax``
tags by name when they are there and otherwise falls back to that positional rule, e.g.::

    <annotation>
      <filename>name.jpg</filename>
      <object><bbox><label>1</label><xmin>40</xmin><ymin>60</ymin><xmax>180</xmax><ymax>230</ymax></bbox></object>
      <object><bbox>...</bbox></object>
    </annotation>

Pixel boxes at the loader's ``image_size`` S use the official conversion
``int(S * int(v) / 256)`` (``int(224 * int(ch.text)/256)`` there) and the official slice
``gt[ymin:ymax, xmin:xmax] = 1`` with NumPy's semantics (:func:`~avlib.datasets.io.official_slice`):
values past the edge are cut, and a coordinate of -2 or less becomes a negative index that counts
from the far edge, so such a box usually fills nothing, exactly as in the official evaluation.
Coordinates outside 0..256 are counted in :attr:`FlickrSoundNet.box_notes`; a box with a non-finite
value (NaN, inf: the official ``int()`` would fail) is dropped, named and counted there. Samples come out in the
world's ``single_source`` structure with ``annotator_boxes``; the ground truth is the consensus
:func:`avlib.metrics.localization.consensus_mask` (``min(1, Σ boxes / 2)``).
"""
from __future__ import annotations

import csv
import math
import xml.etree.ElementTree as ET
from pathlib import Path

from .io import SkipLog, corrupt_coordinate, fail, official_slice, read_audio, read_image

LAYOUT = ("<data_root>/flickr/flickr_test.csv (official test list, rows '<id>,<n>'), "
          "<data_root>/flickr/Annotations/<id>.xml (annotators' boxes, 256-px coordinates), "
          "<data_root>/flickr/frames/<id>.jpg, <data_root>/flickr/audio/<id>.wav")
BOX_SCALE = 256
#: the official test list's length (``metadata/flickr_test.csv`` of the LVS repository)
OFFICIAL_SIZE = 249
_TAGS = ("xmin", "ymin", "xmax", "ymax")


def parse_flickr_xml(path) -> list:
    """An annotation XML → list of boxes ``[xmin, ymin, xmax, ymax]`` (256-px integers, as written;
    a non-finite value stays a float, and :class:`FlickrSoundNet` drops that box and counts it)."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        fail(path, f"not well-formed XML ({err})", LAYOUT, "re-download the official annotation file")
    boxes = []
    for child in root:
        for bbox in child:
            if bbox.tag != "bbox":
                continue
            named = {c.tag: c.text for c in bbox}
            texts = [named[t] for t in _TAGS] if all(t in named for t in _TAGS) else [c.text for c in list(bbox)[1:]]
            try:
                box = [float(t) for t in texts]
            except (TypeError, ValueError):
                fail(path, f"a <bbox> holds non-numeric coordinates {texts}", LAYOUT)
            box = [int(v) if math.isfinite(v) else v for v in box]   # NaN/inf kept: the loader drops the box
            if len(box) != 4:
                fail(path, f"a <bbox> holds {len(box)} coordinates, expected xmin, ymin, xmax, ymax", LAYOUT)
            boxes.append(box)
    if not boxes:
        fail(path, "no <bbox> found under the root's children", LAYOUT)
    return boxes


def read_test_list(path) -> list[str]:
    """``flickr_test.csv`` → the listed ids, in file order (first column, as ``item[0]`` officially)."""
    path = Path(path)
    with open(path, newline="") as f:
        ids = [row[0].strip() for row in csv.reader(f) if row and row[0].strip()]
    if not ids:
        fail(path, "empty test list", LAYOUT, "copy metadata/flickr_test.csv of the official LVS code there")
    if len(set(ids)) != len(ids):
        fail(path, "an id is listed twice", LAYOUT, "use the official flickr_test.csv unchanged")
    return ids


def to_pixels(box, size: int, box_scale: float) -> tuple:
    """The official VGG-SS conversion ``int(S * max(v, 0) / box_scale)`` of each coordinate, cut at ``size``."""
    return tuple(min(int(size * max(float(v), 0.0) / box_scale), size) for v in box)


def flickr_pixels(box, size: int) -> tuple:
    """A Flickr box ``[xmin, ymin, xmax, ymax]`` (256-px integers) → the pixels ``(x0, y0, x1, y1)`` that the
    official ``testset_gt`` fills at ``size``: ``int(S * v / 256)`` then ``gt[ymin:ymax, xmin:xmax]``."""
    x0, y0, x1, y1 = (int(size * int(v) / BOX_SCALE) for v in box)
    (xa, xb), (ya, yb) = official_slice(x0, x1, size), official_slice(y0, y1, size)
    return xa, ya, xb, yb


class FlickrSoundNet:
    """The Flickr-SoundNet test set: ``FlickrSoundNet(data_root)[i]``.

    ``listed``: images in the test list; ``len(ds)``: those evaluated (listed minus skipped);
    ``skipped``: a :class:`SkipLog` of listed images left out (missing media);
    ``box_notes``: a :class:`SkipLog` of box coordinates outside 0..256 (cut at the edge).
    """

    name = "flickr"
    title = "Flickr-SoundNet test"

    def __init__(self, data_root, image_size: int = 112, load_media: bool = True):
        root = Path(data_root)
        if not root.is_dir():
            fail(root, "data_root is not a folder", LAYOUT, "pass the folder that holds flickr/")
        self.root, self.image_size, self.load_media = root / "flickr", int(image_size), load_media
        ann_dir = self.root / "Annotations"
        if not ann_dir.is_dir():
            fail(ann_dir, "annotation folder missing", LAYOUT, "pass the folder that holds flickr/, not flickr/ itself")
        csv_path = self.root / "flickr_test.csv"
        if csv_path.is_file():
            ids = read_test_list(csv_path)
            missing = [i for i in ids if not (ann_dir / f"{i}.xml").is_file()]
            if missing:
                fail(ann_dir / f"{missing[0]}.xml", f"{len(missing)} ids of {csv_path.name} have no annotation XML "
                     f"(first: {missing[:3]})", LAYOUT, "extract all the released Annotations/*.xml there")
            self.test_list = f"{csv_path.name} ({len(ids)} ids; official: {OFFICIAL_SIZE})"
            list_path = csv_path
        else:
            ids = sorted(p.stem for p in ann_dir.glob("*.xml"))
            if not ids:
                fail(ann_dir, "no .xml annotation files", LAYOUT)
            self.test_list = (f"every XML in Annotations/ ({len(ids)}): no flickr_test.csv, so NOT the official "
                              f"{OFFICIAL_SIZE}-image test list")
            list_path = None
        self.listed = len(ids)
        self.items, self.skipped, self.box_notes = [], SkipLog("images"), SkipLog("box coordinates")
        if list_path is not None:
            self.skipped.file(list_path, len(ids))
        for name in ids:
            for kind, ext in (("frames", "jpg"), ("audio", "wav")):
                if not (self.root / kind / f"{name}.{ext}").is_file():
                    self.skipped.add(f"{kind}/<id>.{ext} missing", name)
                    break
            else:
                boxes = []
                for b in parse_flickr_xml(ann_dir / f"{name}.xml"):
                    if not all(math.isfinite(v) for v in b):
                        self.box_notes.add(f"box dropped: {corrupt_coordinate(b, BOX_SCALE)}", name)
                        continue
                    boxes.append(b)
                    if any(v < 0 or v > BOX_SCALE for v in b):
                        self.box_notes.add(f"box coordinate outside 0..{BOX_SCALE} (official int() and slicing: "
                                           "cut at the edge; -2 or less counts from the far edge)", name)
                if not boxes:
                    self.skipped.add("every box dropped (non-finite coordinates)", name)
                    continue
                self.items.append({"name": name, "boxes": boxes})
        if not self.items:
            fail(self.root, f"none of the {self.listed} listed images has its frame and audio", LAYOUT)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        it, S = self.items[i], self.image_size
        ann = [flickr_pixels(b, S) for b in it["boxes"]]
        out = {"file": it["name"], "annotator_boxes": ann, "box": ann[0], "index": i, "sample_rate": 16000}
        if self.load_media:
            out["frame"] = read_image(self.root / "frames" / f"{it['name']}.jpg", S, LAYOUT)
            out["audio"] = read_audio(self.root / "audio" / f"{it['name']}.wav", layout=LAYOUT)
        return out

    def __repr__(self):
        return f"FlickrSoundNet({str(self.root)!r}, {len(self)} of {self.listed} listed images)"
