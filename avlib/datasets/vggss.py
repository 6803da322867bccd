"""VGG-Sound Source (VGG-SS) test-set loader (Chen et al. 2021) for the LVS chapter.

Layout under ``data_root`` (the official test code's ``frames/`` and ``audio/`` folders)::

    <data_root>/vggss/vggss.json
    <data_root>/vggss/frames/<file>.jpg      (the centre frame, any size, RGB or grey)
    <data_root>/vggss/audio/<file>.wav       (any length and rate; mono-mixed, resampled to 16 kHz)

``vggss.json`` is the official annotation file (``metadata/vggss.json`` of
hche11/Localizing-Visual-Sounds-the-Hard-Way): a JSON list of 5,158
``{"file": "<youtube id>_<start>", "class": "<VGG-Sound class>", "bbox": [[xmin, ymin, xmax, ymax], ...]}``
with coordinates normalised to 0..1. The official test list ``metadata/vggss_test.csv`` holds
the same 5,158 files in the same order (checked), so the JSON's order is the test order.

**Official evaluation, kept exactly.** ``testset_gt`` (``utils.py``) converts every coordinate
with ``int(224 * max(x, 0))`` and draws ``gt[ymin:ymax, xmin:xmax] = 1``; it evaluates **every**
entry. Twelve released entries hold a corrupt coordinate (``-2.88e16``): it becomes 0 and that
box is empty; two entries (``M1P1xla8rg0_000000``, ``MKC9LvRivTM_000030``) have no non-empty box
at all, so their ground truth is empty, their cIoU is 0 and they count as failures in the
denominator of 5,158. A non-finite coordinate (NaN, ±inf; not in the release, where the official
``int()`` would fail) drops its box, named and counted; the entry stays. This loader does the same: pixel boxes at ``image_size`` S use
``int(S * max(x, 0))`` cut at S (:func:`~avlib.datasets.flickr.to_pixels`), no entry is dropped,
and :attr:`VGGSS.box_notes` counts coordinates outside 0..1, boxes empty at the official 224 px
and entries whose ground truth is therefore empty. An entry whose frame or audio is missing is
**skipped and counted** in :attr:`VGGSS.skipped`.

Samples come out in the world's ``single_source`` structure: ``frame`` uint8 S×S×3,
``audio`` (16000,) (the centre second; the official code uses the whole 10 s),
``boxes`` (pixel ``[x0, y0, x1, y1)`` at size S, possibly empty), ``box`` (the first, or None),
``label`` (class name) and ``file``. The ground truth is the union of an image's boxes
(:func:`avlib.metrics.localization.union_mask`; all zeros when there is none).
"""
from __future__ import annotations

import math
from pathlib import Path

from .flickr import to_pixels
from .io import SkipLog, corrupt_coordinate, fail, read_audio, read_image, read_json

LAYOUT = ("<data_root>/vggss/vggss.json (a list of {file, class, bbox: [[xmin, ymin, xmax, ymax] in 0..1]}), "
          "<data_root>/vggss/frames/<file>.jpg, <data_root>/vggss/audio/<file>.wav")
#: the official evaluation's image size (where "empty box" is decided, as there)
OFFICIAL_PIXELS = 224
#: the official list's length
OFFICIAL_SIZE = 5158


def read_vggss_json(path) -> list:
    """Parse and validate ``vggss.json``; returns the list of entries (boxes as written)."""
    path = Path(path)
    ann = read_json(path, list, "list of {file, class, bbox}",
                    "put the official vggss.json there (pass the folder that holds vggss/, not vggss/ itself)", LAYOUT)
    for k, e in enumerate(ann):
        if not isinstance(e, dict) or not isinstance(e.get("file"), str) or "bbox" not in e:
            fail(path, f"entry {k} is not an object with a 'file' string and a 'bbox' list: {str(e)[:80]}", LAYOUT)
        if not isinstance(e["bbox"], list) or not all(
                isinstance(b, list) and len(b) == 4 and all(isinstance(v, (int, float)) for v in b) for b in e["bbox"]):
            fail(path, f"entry {e['file']!r} has a bbox that is not a list of [xmin, ymin, xmax, ymax] numbers",
                 LAYOUT)
    return ann


def nonempty(box, size: int = OFFICIAL_PIXELS) -> bool:
    """Whether a 0..1 box draws at least one pixel at ``size`` under the official conversion."""
    x0, y0, x1, y1 = to_pixels(box, size, 1.0)
    return x1 > x0 and y1 > y0


class VGGSS:
    """The VGG-SS test set as an index-addressable dataset: ``VGGSS(data_root)[i]``.

    ``listed``: entries in ``vggss.json``; ``len(ds)``: those evaluated (listed minus skipped);
    ``skipped``: a :class:`SkipLog` of entries left out (missing media); ``box_notes``: a
    :class:`SkipLog` of corrupt or empty boxes and of entries kept with an empty ground truth.
    """

    name = "vggss"
    title = "VGG-SS test"

    def __init__(self, data_root, image_size: int = 112, load_media: bool = True):
        root = Path(data_root)
        if not root.is_dir():
            fail(root, "data_root is not a folder", LAYOUT, "pass the folder that holds vggss/")
        self.root, self.image_size, self.load_media = root / "vggss", int(image_size), load_media
        entries = read_vggss_json(self.root / "vggss.json")
        self.listed = len(entries)
        self.test_list = f"vggss.json ({len(entries)} entries; official: {OFFICIAL_SIZE})"
        self.entries, self.skipped, self.box_notes = [], SkipLog("clips"), SkipLog("boxes")
        self.skipped.file(self.root / "vggss.json", len(entries))
        for e in entries:
            name = e["file"]
            for kind, ext in (("frames", "jpg"), ("audio", "wav")):
                if not (self.root / kind / f"{name}.{ext}").is_file():
                    self.skipped.add(f"{kind}/<file>.{ext} missing", name)
                    break
            else:
                boxes = []
                for b in e["bbox"]:
                    if not all(math.isfinite(v) for v in b):
                        self.box_notes.add(f"box dropped: {corrupt_coordinate(b)}", name)
                        continue
                    boxes.append(b)
                    if any(v < 0 or v > 1 for v in b):
                        self.box_notes.add("box with a coordinate outside 0..1 (official: max(x, 0), cut at 1)", name)
                    if not nonempty(b):
                        self.box_notes.add("box empty at 224 px (draws nothing, as officially)", name)
                if not any(nonempty(b) for b in boxes):
                    self.box_notes.add("entry with no non-empty box: kept, empty ground truth (a failure)", name)
                self.entries.append({"file": name, "class": e.get("class", ""), "boxes": boxes})
        if not self.entries:
            fail(self.root, f"none of the {self.listed} entries has its frame and audio", LAYOUT)
        self.classes = tuple(sorted({e["class"] for e in self.entries}))

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: int) -> dict:
        e, S = self.entries[i], self.image_size
        boxes = [p for p in (to_pixels(b, S, 1.0) for b in e["boxes"]) if p[2] > p[0] and p[3] > p[1]]
        out = {"file": e["file"], "label": e["class"], "boxes": boxes, "box": boxes[0] if boxes else None,
               "index": i, "sample_rate": 16000}
        if self.load_media:
            out["frame"] = read_image(self.root / "frames" / f"{e['file']}.jpg", S, LAYOUT)
            out["audio"] = read_audio(self.root / "audio" / f"{e['file']}.wav", layout=LAYOUT)
        return out

    def __repr__(self):
        return f"VGGSS({str(self.root)!r}, {len(self)} of {self.listed} clips, {len(self.classes)} classes)"
