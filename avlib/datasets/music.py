"""MUSIC / MUSIC-Synthetic loader (Zhao et al. 2018; Hu et al. 2020) for the DSOL chapter.

Layout under ``data_root`` (one folder per subset: ``solo``, ``duet``, ``synthetic``)::

    <data_root>/<subset>/annotations.json
    <data_root>/<subset>/frames/<video>/frame/<xxxxx>.jpg     (any size; RGB or grey)
    <data_root>/<subset>/audio/<video>/<xxxxx>.wav            (≥ 1 s; resampled to 16 kHz, mono)

``annotations.json`` is the official DSOL annotation format, keyed by the frame path::

    {"<video>/frame/<xxxxx>.jpg": {"bbox": [{"box": [x, y, w, h],   # pixels of the original frame
                                             "normbox": [...],        # not used
                                             "category_id": 3,
                                             "sounding": false}],     # optional, default true
                                   "wdith": 640, "height": 360}}      # sic: "wdith"

``category_id`` indexes ``classes`` starting at ``id_base`` (default 0). A box without a
``sounding`` key counts as sounding (solo and duet frames); MUSIC-Synthetic silent tiles
carry ``"sounding": false``. Samples come out in the world's ``cocktail`` structure
(``frame`` uint8 S×S×3, ``audio`` (16000,), ``objects`` with ``class``/``box`` [x0, y0, x1, y1)
in resized pixels/``sounding``, ``sounding_classes``, ``silent_classes``), so the chapter runs
unchanged on real data. Bad input raises :class:`MusicFormatError` naming the file and the fix.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

MUSIC_CLASSES = ("accordion", "acoustic_guitar", "cello", "clarinet", "erhu", "flute", "saxophone",
                 "trumpet", "tuba", "violin", "xylophone")
SUBSETS = ("solo", "duet", "synthetic")
LAYOUT = ("<data_root>/<subset>/annotations.json, <data_root>/<subset>/frames/<video>/frame/<xxxxx>.jpg, "
          "<data_root>/<subset>/audio/<video>/<xxxxx>.wav")


class MusicFormatError(ValueError):
    """A MUSIC file or folder that does not follow the documented layout."""


def _fail(path, problem, fix="see the layout in avlib/datasets/music.py"):
    raise MusicFormatError(f"{path}: {problem}. Expected layout: {LAYOUT}. Fix: {fix}")


def read_annotations(path) -> dict:
    """Parse and validate an annotation JSON; returns {frame key: entry}."""
    path = Path(path)
    if not path.is_file():
        _fail(path, "annotation file not found", "put the official annotation JSON there")
    try:
        ann = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        _fail(path, f"not valid JSON ({err})", "re-download or re-export the annotation file")
    if not isinstance(ann, dict) or not ann:
        _fail(path, "must be a non-empty JSON object keyed by 'video/frame/xxxxx.jpg'")
    for key, entry in ann.items():
        parts = key.split("/")
        if len(parts) != 3 or parts[1] != "frame" or not parts[2].endswith(".jpg"):
            _fail(path, f"key {key!r} is not of the form 'video/frame/xxxxx.jpg'")
        if not isinstance(entry, dict) or "bbox" not in entry or not isinstance(entry["bbox"], list):
            _fail(path, f"entry {key!r} lacks a 'bbox' list")
        for name in ("wdith", "height"):
            if not isinstance(entry.get(name), (int, float)) or entry[name] <= 0:
                _fail(path, f"entry {key!r} lacks a positive {name!r} (the official files spell width 'wdith')")
        for b in entry["bbox"]:
            box = b.get("box") if isinstance(b, dict) else None
            if not isinstance(box, list) or len(box) != 4 or not all(isinstance(v, (int, float)) for v in box):
                _fail(path, f"entry {key!r} has a box that is not [x, y, w, h] numbers: {b!r}")
            if box[2] <= 0 or box[3] <= 0:
                _fail(path, f"entry {key!r} has a box with non-positive width/height: {box}")
            if not isinstance(b.get("category_id"), int):
                _fail(path, f"entry {key!r} has a box without an integer 'category_id': {b!r}")
    return ann


def _read_image(path, size: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError
    if not path.is_file():
        _fail(path, "frame file not found", "extract the frames as <video>/frame/<xxxxx>.jpg")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        _fail(path, f"unreadable image ({err})", "re-extract the frame")


def _read_audio(path, sample_rate: int = 16000) -> np.ndarray:
    import soundfile as sf
    if not path.is_file():
        _fail(path, "audio file not found", "cut 1-s clips as audio/<video>/<xxxxx>.wav")
    try:
        wave, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except RuntimeError as err:
        _fail(path, f"unreadable audio ({err})", "re-export it as WAV")
    wave = wave.mean(1)
    if sr != sample_rate:
        import torch
        import torchaudio
        wave = torchaudio.functional.resample(torch.from_numpy(wave), sr, sample_rate).numpy()
    if len(wave) < sample_rate:
        _fail(path, f"shorter than 1 s ({len(wave)} samples at {sample_rate} Hz)", "cut 1-s clips")
    return np.ascontiguousarray(wave[:sample_rate], dtype=np.float32)


class Music:
    """One MUSIC subset as an index-addressable dataset: ``Music(root, "duet")[i]``."""

    name = "music"

    def __init__(self, data_root, subset: str = "solo", classes=MUSIC_CLASSES, id_base: int = 0,
                 image_size: int = 112):
        if subset not in SUBSETS:
            raise ValueError(f"unknown MUSIC subset {subset!r}; valid: {SUBSETS}")
        root = Path(data_root)
        if not root.is_dir():
            _fail(root, "data_root is not a folder", "pass the folder holding solo/, duet/, synthetic/")
        self.root, self.subset = root / subset, subset
        if not self.root.is_dir():
            _fail(self.root, f"subset folder {subset!r} missing")
        self.classes, self.id_base, self.image_size = tuple(classes), int(id_base), int(image_size)
        self.ann = read_annotations(self.root / "annotations.json")
        self.keys = sorted(self.ann)
        for key in self.keys:
            for b in self.ann[key]["bbox"]:
                c = b["category_id"] - self.id_base
                if not 0 <= c < len(self.classes):
                    _fail(self.root / "annotations.json",
                          f"category_id {b['category_id']} of {key!r} outside 0..{len(self.classes) - 1} (+ id_base)",
                          "pass the dataset's class list as classes= and its first id as id_base=")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: int) -> dict:
        key = self.keys[i]
        entry = self.ann[key]
        video, _, fname = key.split("/")
        S = self.image_size
        frame = _read_image(self.root / "frames" / key, S)
        audio = _read_audio(self.root / "audio" / video / (Path(fname).stem + ".wav"))
        sx, sy = S / float(entry["wdith"]), S / float(entry["height"])
        objects = []
        for b in entry["bbox"]:
            x, y, w, h = b["box"]
            box = tuple(int(np.clip(round(c), 0, S)) for c in (x * sx, y * sy, (x + w) * sx, (y + h) * sy))
            objects.append({"class": b["category_id"] - self.id_base, "box": box,
                            "sounding": bool(b.get("sounding", True))})
        sounding = sorted({o["class"] for o in objects if o["sounding"]})
        silent = sorted({o["class"] for o in objects if not o["sounding"]} - set(sounding))
        kind = {"synthetic": "mosaic"}.get(self.subset, self.subset)
        out = {"frame": frame, "audio": audio, "sample_rate": 16000, "kind": kind, "objects": objects,
               "sounding_classes": sounding, "silent_classes": silent, "index": i, "key": key}
        if self.subset == "solo" and sounding:
            out["label"] = sounding[0]
        return out

    def __repr__(self):
        return f"Music({str(self.root)!r}, {len(self)} frames, {self.num_classes} classes)"
