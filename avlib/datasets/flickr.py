"""Flickr-SoundNet sound-source test set loader (Senocak et al. 2018; Chen et al. 2021).

Layout under ``data_root``::

    <data_root>/flickr/Annotations/<name>.xml   (one file per test image)
    <data_root>/flickr/frames/<name>.jpg
    <data_root>/flickr/audio/<name>.wav

Each XML holds several annotators' boxes in 256×256-pixel coordinates. The official test
code walks ``root → child → <bbox>`` and reads the bbox's children after the first as
``xmin, ymin, xmax, ymax``; this loader reads the ``xmin``/``ymin``/``xmax``/``ymax`` tags
by name when they are there and otherwise falls back to that positional rule, e.g.::

    <annotation>
      <filename>name.jpg</filename>
      <object><bbox><label>1</label><xmin>40</xmin><ymin>60</ymin><xmax>180</xmax><ymax>230</ymax></bbox></object>
      <object><bbox>...</bbox></object>
    </annotation>

Coordinates are clamped to 0..256 and empty boxes skipped, counted in a warning. Samples come
out in the world's ``single_source`` structure with ``annotator_boxes`` in pixels at the
loader's ``image_size``; the ground truth is the consensus
:func:`avlib.metrics.localization.consensus_mask` (``min(1, Σ boxes / 2)``).
"""
from __future__ import annotations

import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from .vggss import fail, read_audio, read_image

LAYOUT = ("<data_root>/flickr/Annotations/<name>.xml (annotators' boxes, 256-px coordinates), "
          "<data_root>/flickr/frames/<name>.jpg, <data_root>/flickr/audio/<name>.wav")
BOX_SCALE = 256
_TAGS = ("xmin", "ymin", "xmax", "ymax")


def parse_flickr_xml(path) -> list:
    """An annotation XML → list of boxes ``[xmin, ymin, xmax, ymax]`` (256-px), as written."""
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
                box = [int(float(t)) for t in texts]
            except (TypeError, ValueError):
                fail(path, f"a <bbox> holds non-numeric coordinates {texts}", LAYOUT)
            if len(box) != 4:
                fail(path, f"a <bbox> holds {len(box)} coordinates, expected xmin, ymin, xmax, ymax", LAYOUT)
            boxes.append(box)
    if not boxes:
        fail(path, "no <bbox> found under the root's children", LAYOUT)
    return boxes


class FlickrSoundNet:
    """The Flickr-SoundNet test set: ``FlickrSoundNet(data_root)[i]``."""

    name = "flickr"

    def __init__(self, data_root, image_size: int = 112, load_media: bool = True):
        root = Path(data_root)
        if not root.is_dir():
            fail(root, "data_root is not a folder", LAYOUT, "pass the folder that holds flickr/")
        self.root, self.image_size, self.load_media = root / "flickr", int(image_size), load_media
        ann_dir = self.root / "Annotations"
        if not ann_dir.is_dir():
            fail(ann_dir, "annotation folder missing", LAYOUT)
        files = sorted(ann_dir.glob("*.xml"))
        if not files:
            fail(ann_dir, "no .xml annotation files", LAYOUT)
        self.items, self.clamped, self.skipped = [], 0, 0
        for f in files:
            kept = []
            for b in parse_flickr_xml(f):
                arr = np.asarray(b, dtype=float)
                if np.any(arr < 0) or np.any(arr > BOX_SCALE):
                    self.clamped += 1
                    arr = np.clip(arr, 0, BOX_SCALE)
                if arr[2] <= arr[0] or arr[3] <= arr[1]:
                    self.skipped += 1
                    continue
                kept.append(arr)
            if not kept:
                fail(f, "no usable box (all empty after clamping)", LAYOUT)
            self.items.append({"name": f.stem, "boxes": kept})
        if self.clamped or self.skipped:
            warnings.warn(f"{ann_dir}: {self.clamped} boxes outside 0..{BOX_SCALE} clamped, "
                          f"{self.skipped} empty boxes skipped", stacklevel=2)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        it, S = self.items[i], self.image_size
        ann = [tuple(int(v) for v in np.floor(b * S / BOX_SCALE + 1e-9)) for b in it["boxes"]]
        out = {"file": it["name"], "annotator_boxes": ann, "box": ann[0], "index": i, "sample_rate": 16000}
        if self.load_media:
            out["frame"] = read_image(self.root / "frames" / f"{it['name']}.jpg", S, LAYOUT)
            out["audio"] = read_audio(self.root / "audio" / f"{it['name']}.wav", layout=LAYOUT)
        return out

    def __repr__(self):
        return f"FlickrSoundNet({str(self.root)!r}, {len(self)} images)"
