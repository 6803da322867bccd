"""VGG-Sound Source (VGG-SS) test-set loader (Chen et al. 2021) for the LVS chapter.

Layout under ``data_root`` (the official test code's ``frames/`` and ``audio/`` folders)::

    <data_root>/vggss/vggss.json
    <data_root>/vggss/frames/<file>.jpg      (the centre frame, any size, RGB or grey)
    <data_root>/vggss/audio/<file>.wav       (any length and rate; mono-mixed, resampled to 16 kHz)

``vggss.json`` is the official annotation file: a JSON list of
``{"file": "<youtube id>_<start>", "class": "<VGG-Sound class>", "bbox": [[xmin, ymin, xmax, ymax], ...]}``
with coordinates normalised to 0..1. Some official boxes hold corrupt huge coordinates (far
outside 0..1): like the official code's ``np.clip(bbox, 0, 1)`` they are **clamped** to the
image, and a box that is empty after clamping is **skipped**; both are counted in a warning
(``VGGSS.clamped`` / ``VGGSS.skipped``), never silently. An entry left without boxes is dropped
(counted in ``VGGSS.dropped``).

Samples come out in the world's ``single_source`` structure: ``frame`` uint8 S×S×3,
``audio`` (16000,) (the centre second; the official code uses the whole 10 s),
``boxes`` (pixel ``[x0, y0, x1, y1)`` at size S), ``box`` (the first), ``label`` (class name)
and ``file``. The VGG-SS ground truth is the union of an image's boxes
(:func:`avlib.metrics.localization.union_mask`).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

LAYOUT = ("<data_root>/vggss/vggss.json (a list of {file, class, bbox: [[xmin, ymin, xmax, ymax] in 0..1]}), "
          "<data_root>/vggss/frames/<file>.jpg, <data_root>/vggss/audio/<file>.wav")
#: a coordinate further than this outside 0..1 counts as corrupt (clamped and counted)
TOLERANCE = 1e-6


class DatasetFormatError(ValueError):
    """A dataset file or folder that does not follow the documented layout."""


def fail(path, problem, layout=LAYOUT, fix="see the layout in the loader's docstring"):
    raise DatasetFormatError(f"{path}: {problem}. Expected layout: {layout}. Fix: {fix}")


def read_image(path, size: int, layout=LAYOUT) -> np.ndarray:
    """An image file → uint8 (size, size, 3), bilinear resize without cropping (as the paper)."""
    from PIL import Image, UnidentifiedImageError
    path = Path(path)
    if not path.is_file():
        fail(path, "frame file not found", layout, "extract the centre frame of each clip there")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        fail(path, f"unreadable image ({err})", layout, "re-extract the frame")


def read_audio(path, sample_rate: int = 16000, seconds: float = 1.0, layout=LAYOUT) -> np.ndarray:
    """A WAV file → mono float32, resampled, its centre ``seconds`` (tiled when shorter, as the official code)."""
    import soundfile as sf
    path = Path(path)
    if not path.is_file():
        fail(path, "audio file not found", layout, "extract the clip's audio as WAV there")
    try:
        wave, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as err:
        fail(path, f"unreadable audio ({err})", layout, "re-export it as WAV")
    wave = wave.mean(1)
    if len(wave) == 0:
        fail(path, "empty audio", layout, "re-extract the clip's audio")
    if sr != sample_rate:
        import torch
        import torchaudio
        wave = torchaudio.functional.resample(torch.from_numpy(wave), sr, sample_rate).numpy()
    n = int(sample_rate * seconds)
    if len(wave) < n:
        wave = np.tile(wave, n // len(wave) + 1)
    start = (len(wave) - n) // 2
    return np.ascontiguousarray(np.clip(wave[start:start + n], -1, 1), dtype=np.float32)


def clean_boxes(boxes, where=""):
    """Clamp normalised boxes to 0..1 and drop empty ones: ``(kept, n_clamped, n_skipped)``."""
    kept, clamped, skipped = [], 0, 0
    for b in boxes:
        arr = np.asarray(b, dtype=float)
        if np.any(arr < -TOLERANCE) or np.any(arr > 1 + TOLERANCE):
            clamped += 1
            arr = np.clip(arr, 0.0, 1.0)
        if arr[2] <= arr[0] or arr[3] <= arr[1]:
            skipped += 1
            continue
        kept.append(arr)
    return kept, clamped, skipped


def read_vggss_json(path) -> list:
    """Parse and validate ``vggss.json``; returns the list of entries (boxes not yet cleaned)."""
    path = Path(path)
    if not path.is_file():
        fail(path, "annotation file not found", fix="put the official vggss.json there")
    try:
        ann = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        fail(path, f"not valid JSON ({err})", fix="re-download the official vggss.json")
    if not isinstance(ann, list) or not ann:
        fail(path, "must be a non-empty JSON list of {file, class, bbox}")
    for k, e in enumerate(ann):
        if not isinstance(e, dict) or not isinstance(e.get("file"), str) or "bbox" not in e:
            fail(path, f"entry {k} is not an object with a 'file' string and a 'bbox' list: {str(e)[:80]}")
        if not isinstance(e["bbox"], list) or not all(
                isinstance(b, list) and len(b) == 4 and all(isinstance(v, (int, float)) for v in b) for b in e["bbox"]):
            fail(path, f"entry {e['file']!r} has a bbox that is not a list of [xmin, ymin, xmax, ymax] numbers")
    return ann


class VGGSS:
    """The VGG-SS test set as an index-addressable dataset: ``VGGSS(data_root)[i]``."""

    name = "vggss"

    def __init__(self, data_root, image_size: int = 112, load_media: bool = True):
        root = Path(data_root)
        if not root.is_dir():
            fail(root, "data_root is not a folder", fix="pass the folder that holds vggss/")
        self.root, self.image_size, self.load_media = root / "vggss", int(image_size), load_media
        entries = read_vggss_json(self.root / "vggss.json")
        self.entries, self.clamped, self.skipped, self.dropped = [], 0, 0, 0
        for e in entries:
            boxes, c, s = clean_boxes(e["bbox"])
            self.clamped, self.skipped = self.clamped + c, self.skipped + s
            if boxes:
                self.entries.append({"file": e["file"], "class": e.get("class", ""), "boxes": boxes})
            else:
                self.dropped += 1
        if self.clamped or self.skipped or self.dropped:
            warnings.warn(f"{self.root / 'vggss.json'}: {self.clamped} boxes with coordinates outside 0..1 "
                          f"clamped, {self.skipped} empty boxes skipped, {self.dropped} entries left without a "
                          f"box dropped ({len(self.entries)} of {len(entries)} kept)", stacklevel=2)
        if not self.entries:
            fail(self.root / "vggss.json", "no entry has a usable box")
        self.classes = tuple(sorted({e["class"] for e in self.entries}))

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: int) -> dict:
        e, S = self.entries[i], self.image_size
        boxes = [tuple(int(v) for v in np.floor(b * S + 1e-9)) for b in e["boxes"]]
        out = {"file": e["file"], "label": e["class"], "boxes": boxes, "box": boxes[0], "index": i,
               "sample_rate": 16000}
        if self.load_media:
            out["frame"] = read_image(self.root / "frames" / f"{e['file']}.jpg", S)
            out["audio"] = read_audio(self.root / "audio" / f"{e['file']}.wav")
        return out

    def __repr__(self):
        return f"VGGSS({str(self.root)!r}, {len(self)} clips, {len(self.classes)} classes)"
