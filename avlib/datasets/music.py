"""MUSIC solo / duet / MUSIC-Synthetic for the DSOL chapter (Zhao et al. 2018; Hu et al. 2020),
read from the files DSOL released, unchanged (DTaoo/Discriminative-Sounding-Objects-Localization).

Layout under ``data_root`` (the official names; frames as ``music-exp/data/cut_videos.py`` writes
them, audio as ``music-exp/data/cut_audios.py`` reads it)::

    <data_root>/solotest.json                                   music-exp/solotest.json (13,472 keys)
    <data_root>/duettest.json                                   music-exp/duettest.json (11,512 keys)
    <data_root>/MUSIC_solo_videos.json                          music-exp/data/MUSIC_label/ (solo training labels)
    <data_root>/{solo,duet}/video_frames/<video>/frame_<NNN>/<xxxxx>.jpg
    <data_root>/{solo,duet}/audio/<video>.wav                   (or .flac; whole clip; second NNN is cut)
    <data_root>/synthetic/test1/{video/<k>.jpg, audio/<k>.wav, box/<k>.npy}
    <data_root>/synthetic/train/train/{video/<k>.jpg, audio/<k>.wav}

(``synthetic/`` is optional for the DSOL chapter: :mod:`avlib.datasets.music_synthetic` builds the
mosaics from the solo frames when it is absent.)

Annotation JSON (solo and duet), keyed ``<video>/frame_<NNN>/<xxxxx>.jpg``::

    {"4Oy5VmaacaI_0_1000/frame_013/00411.jpg":
        {"bbox": [{"box": [x, y, w, h],          # pixels of the original frame
                   "normbox": [x, y, w, h],      # the same in 0..1: what eval.py / eval_duet.py use
                   "category_id": 11}],          # sparse ids, see CATEGORY_IDS
         "wdith": 640, "height": 360}}           # sic: "wdith"

The box is ``[x, y, w, h]`` (a corner and the size), not two corners: ``eval_duet.py`` and
``tools.py`` fill ``gtmap[y:y+h, x:x+w]``, ``normbox[2] == box[2] / wdith`` on every box of the
released files, and 10,021 of the 15,035 duet boxes would have x1 < x0 read as corners.
MUSIC-Synthetic's ``box/<k>.npy`` (``eval.py``) holds one row per sounding instrument,
``[x, y, w, h, category_id]`` with x..h in 0..1; its silent tiles carry no box.

Corrupt boxes: a ``normbox`` with a non-finite coordinate, one far outside 0..1, or one that draws
nothing at the official 224 px is dropped and counted in :attr:`Music.box_notes` with its key (not in
the release; the official code would fail or draw nothing); a frame left with no box is skipped and
counted. :attr:`Music.skipped` also says whether the annotation file is the released one.

Official protocol: the test sets are every key of the JSON (every ``.npy`` for synthetic); a frame
with an empty box list is skipped by the official evaluation (1,116 solo, 1,228 duet), and so
here — counted in :attr:`Music.skipped` with a missing frame or audio file. Training frames are
the frames of the videos that no test key names (one per second, the first), solo labels from
``MUSIC_solo_videos.json`` (``{"videos": {class: [YouTube id, ...]}}``). Deviation: the official
audio input is a log-mel pickle (``audio_frames/<video>/<NNN>.pkl``); this book's encoders take the
1-s waveform, so the loader cuts it from the clip's audio. Samples come out in the world's
``cocktail`` structure (``frame`` uint8 S×S×3, ``audio`` (16000,), ``objects`` with
``class``/``box`` [x0, y0, x1, y1) in resized pixels/``sounding``, ``sounding_classes``,
``silent_classes``), so the chapter runs unchanged on real data.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import (DatasetFormatError, SkipLog, corrupt_coordinate, fail, official_slice, read_audio, read_image,
                 read_json, subsample)

#: the official 11-class list (eval.py ``keylist``, sorted as there): class index = position
MUSIC_CLASSES = ("accordion", "acoustic_guitar", "cello", "clarinet", "erhu", "flute", "saxophone",
                 "trumpet", "tuba", "violin", "xylophone")
#: the released files' sparse ``category_id`` → class (eval.py / eval_duet.py ``duetkeys``)
CATEGORY_IDS = {1: "cello", 3: "acoustic_guitar", 8: "saxophone", 10: "trumpet", 11: "violin", 12: "flute",
                13: "accordion"}
SUBSETS = ("solo", "duet", "synthetic")
ANNOTATIONS = {"solo": "solotest.json", "duet": "duettest.json"}
LABELS = "MUSIC_solo_videos.json"
AUDIO_SUFFIXES = (".wav", ".flac")
LAYOUT = ("<data_root>/solotest.json, duettest.json, MUSIC_solo_videos.json; "
          "<data_root>/{solo,duet}/video_frames/<video>/frame_<NNN>/<xxxxx>.jpg and {solo,duet}/audio/<video>.wav; "
          "<data_root>/synthetic/test1/{video/<k>.jpg,audio/<k>.wav,box/<k>.npy}, "
          "synthetic/train/train/{video,audio}/ (see avlib/datasets/music.py)")


class MusicFormatError(DatasetFormatError):
    """A MUSIC file or folder that does not follow the documented layout (kept for compatibility)."""


def _fail(path, problem, fix="see the layout in avlib/datasets/music.py"):
    fail(path, problem, LAYOUT, fix, MusicFormatError)


def class_of(category_id, where="") -> int:
    """The class index (in :data:`MUSIC_CLASSES`) of a released sparse ``category_id``."""
    if category_id not in CATEGORY_IDS:
        _fail(where, f"unknown category_id {category_id!r}; the released files use {sorted(CATEGORY_IDS)}",
              "use the official annotation file unchanged")
    return MUSIC_CLASSES.index(CATEGORY_IDS[category_id])


def read_annotations(path) -> dict:
    """Parse and validate a released annotation JSON (``solotest.json`` / ``duettest.json``)."""
    path = Path(path)
    ann = read_json(path, dict, "object keyed by '<video>/frame_<NNN>/<xxxxx>.jpg'",
                    "copy the official file there (music-exp/solotest.json, duettest.json)", LAYOUT, MusicFormatError)
    for key, entry in ann.items():
        parts = key.split("/")
        if len(parts) != 3 or not parts[1].startswith("frame_") or not parts[1][6:].isdigit() \
                or not parts[2].endswith(".jpg"):
            _fail(path, f"key {key!r} is not of the form '<video>/frame_<NNN>/<xxxxx>.jpg'")
        if not isinstance(entry, dict) or not isinstance(entry.get("bbox"), list):
            _fail(path, f"entry {key!r} lacks a 'bbox' list")
        for name in ("wdith", "height"):
            if not isinstance(entry.get(name), (int, float)) or entry[name] <= 0:
                _fail(path, f"entry {key!r} lacks a positive {name!r} (the official files spell width 'wdith')")
        for b in entry["bbox"]:
            nb = b.get("normbox") if isinstance(b, dict) else None
            if not isinstance(nb, list) or len(nb) != 4 or not all(isinstance(v, (int, float)) for v in nb):
                _fail(path, f"entry {key!r} has a box without a 'normbox' [x, y, w, h] in 0..1: {b!r}")
            if nb[2] <= 0 or nb[3] <= 0:   # NaN passes: a corrupt box is the loader's to drop and count
                _fail(path, f"entry {key!r} has a normbox with non-positive width/height: {nb}")
            class_of(b.get("category_id"), f"{path} entry {key!r}")
    return ann


def _read_labels(path) -> dict:
    """``MUSIC_solo_videos.json`` → {YouTube id: class index}."""
    shape = "object {'videos': {class: [ids]}}"
    labels = read_json(path, dict, shape, "copy music-exp/data/MUSIC_label/MUSIC_solo_videos.json there", LAYOUT,
                       MusicFormatError)
    try:
        return {yt: MUSIC_CLASSES.index(c) for c, ids in labels["videos"].items() for yt in ids}
    except (KeyError, TypeError, AttributeError, ValueError) as err:
        _fail(path, f"not the official {shape} label file ({err!r})")


def _norm_to_box(nb, S) -> tuple:
    """A normbox ``[x, y, w, h]`` → the pixels ``(x0, y0, x1, y1)`` that the official evaluation fills at ``S``
    (``tools.py`` / ``eval.py`` / ``eval_duet.py``: ``box = np.array(normbox) * 224``,
    ``gtmap[int(box[1]):int(box[1] + box[3]), int(box[0]):int(box[0] + box[2])] = 1``, NumPy slicing)."""
    x, y, w, h = (float(v) * S for v in nb)
    (xa, xb), (ya, yb) = official_slice(int(x), int(x + w), S), official_slice(int(y), int(y + h), S)
    return xa, ya, xb, yb


def usable_boxes(objects, key, notes: SkipLog, size: int = 224) -> list:
    """The ``(class, normbox)`` pairs of a frame whose box an image can hold.

    A normbox ``[x, y, w, h]`` with a non-finite coordinate or one far outside 0..1
    (:func:`~avlib.datasets.io.corrupt_coordinate`), or one that draws nothing at ``size`` px (the
    official evaluation's 224), is dropped and counted in ``notes`` with the frame's key.
    """
    kept = []
    for c, nb in objects:
        x, y, w, h = nb
        why = corrupt_coordinate((x, y, x + w, y + h))
        if why is None:
            x0, y0, x1, y1 = _norm_to_box(nb, size)
            why = None if x1 > x0 and y1 > y0 else f"box empty at {size} px (draws nothing)"
        if why is None:
            kept.append((c, nb))
        else:
            notes.add(f"box dropped: {why}", key)
    return kept


class Music:
    """One MUSIC subset and split as an index-addressable dataset: ``Music(root, "duet")[i]``.

    ``split="test"``: the official test frames (solo/duet JSON keys, synthetic ``.npy`` boxes);
    ``"train"``: the unannotated training frames. ``keep``: how many to keep
    (:func:`~avlib.datasets.io.subsample`, ``seed``), after skipping; ``None`` keeps all.
    ``skipped`` (a :class:`~avlib.datasets.io.SkipLog`) says what was left out and why;
    ``total`` counts the candidates before skipping (the official denominator before the
    official skip of empty frames).
    """

    name = "music"

    def __init__(self, data_root, subset: str = "solo", split: str = "test", image_size: int = 112,
                 keep: int | None = None, seed: int = 0):
        if subset not in SUBSETS or split not in ("train", "test"):
            raise ValueError(f"unknown MUSIC subset/split {subset!r}/{split!r}; valid: {SUBSETS} × ('train', 'test')")
        root = Path(data_root)
        if not root.is_dir():
            _fail(root, "data_root is not a folder", "pass the folder holding solotest.json, solo/, duet/, synthetic/")
        self.root, self.subset, self.split = root, subset, split
        self.classes, self.image_size = MUSIC_CLASSES, int(image_size)
        self.skipped = SkipLog(f"MUSIC {subset} {split} frames")
        self.box_notes = SkipLog("boxes")
        self._durations: dict = {}
        self._wave: tuple = (None, None)
        items = getattr(self, f"_{'synthetic' if subset == 'synthetic' else 'clips'}_{split}")()
        self.total = len(items) + len(self.skipped)
        self.items = [items[i] for i in subsample(len(items), keep, seed)]

    # ---- indexing ------------------------------------------------------------------------------
    def _audio_file(self, video):
        for suf in AUDIO_SUFFIXES:
            p = self.root / self.subset / "audio" / (video + suf)
            if p.is_file():
                return p
        return None

    def _duration(self, path) -> float:
        if path not in self._durations:
            import soundfile as sf
            try:
                self._durations[path] = sf.info(str(path)).duration
            except (RuntimeError, sf.LibsndfileError) as err:
                _fail(path, f"unreadable audio ({err})", "re-export it as WAV or FLAC")
        return self._durations[path]

    def _media_ok(self, name, frame, audio, second) -> bool:
        if not frame.is_file():
            self.skipped.add("frame file missing", name)
        elif audio is None:
            self.skipped.add("audio file missing", name)
        elif second is not None and self._duration(audio) < second + 1:
            self.skipped.add("audio shorter than the frame's second", name)
        else:
            return True
        return False

    def _clips_test(self) -> list:
        path = self.root / ANNOTATIONS[self.subset]
        ann = read_annotations(path)
        self.skipped.file(path, len(ann))
        items = []
        for key in sorted(ann):
            entry, (video, sec, _) = ann[key], key.split("/")
            if not entry["bbox"]:
                self.skipped.add("empty box list (skipped by the official evaluation)", key)
                continue
            frame = self.root / self.subset / "video_frames" / key
            audio = self._audio_file(video)
            objs = usable_boxes([(class_of(b["category_id"], f"{path} entry {key!r}"), b["normbox"])
                                 for b in entry["bbox"]], key, self.box_notes)
            if not objs:
                self.skipped.add("every box dropped (corrupt or empty coordinates)", key)
            elif self._media_ok(key, frame, audio, int(sec[6:])):
                items.append({"key": key, "frame": frame, "audio": audio, "second": int(sec[6:]), "objects": objs})
        return items

    def _clips_train(self) -> list:
        test_videos = {k.split("/")[0] for k in read_annotations(self.root / ANNOTATIONS[self.subset])}
        labels = _read_labels(self.root / LABELS) if self.subset == "solo" else {}
        if self.subset == "solo":
            self.skipped.file(self.root / LABELS, len(labels))
        vroot = self.root / self.subset / "video_frames"
        if not vroot.is_dir():
            _fail(vroot, "frame folder not found", "extract the frames with music-exp/data/cut_videos.py")
        items = []
        for vdir in sorted(p for p in vroot.iterdir() if p.is_dir() and p.name not in test_videos):
            audio = self._audio_file(vdir.name)
            for sdir in sorted(vdir.glob("frame_[0-9][0-9][0-9]")):
                frames = sorted(sdir.glob("*.jpg"))
                name = f"{vdir.name}/{sdir.name}"
                if not frames:
                    self.skipped.add("second folder without a frame", name)
                elif self.subset == "solo" and vdir.name[:11] not in labels:
                    self.skipped.add(f"video not in {LABELS}", name)
                elif self._media_ok(name, frames[0], audio, int(sdir.name[6:])):
                    label = [(labels[vdir.name[:11]], None)] if self.subset == "solo" else []
                    items.append({"key": f"{name}/{frames[0].name}", "frame": frames[0], "audio": audio,
                                  "second": int(sdir.name[6:]), "objects": label})
        return items

    def _synthetic_test(self) -> list:
        base = self.root / "synthetic" / "test1"
        if not (base / "box").is_dir():
            _fail(base / "box", "box folder not found", "copy MUSIC-Synthetic's test1/box/*.npy there")
        items = []
        for p in sorted((base / "box").glob("*.npy")):
            try:
                rows = np.load(p, allow_pickle=False)
            except (ValueError, OSError) as err:
                _fail(p, f"unreadable .npy ({err})", "copy the official box file again")
            if rows.ndim != 2 or rows.shape[1] != 5:
                _fail(p, f"shape {rows.shape}, expected (n, 5) rows [x, y, w, h, category_id]")
            if not len(rows):
                self.skipped.add("empty box list (skipped by the official evaluation)", p.stem)
                continue
            frame = base / "video" / f"{p.stem}.jpg"
            audio = next((a for s in AUDIO_SUFFIXES if (a := base / "audio" / (p.stem + s)).is_file()), None)
            objs = usable_boxes([(class_of(int(r[4]) if np.isfinite(r[4]) else r[4], str(p)), [float(v) for v in r[:4]]) for r in rows],
                                p.stem, self.box_notes)
            if not objs:
                self.skipped.add("every box dropped (corrupt or empty coordinates)", p.stem)
            elif self._media_ok(p.stem, frame, audio, None):
                items.append({"key": p.stem, "frame": frame, "audio": audio, "second": None, "objects": objs})
        return items

    def _synthetic_train(self) -> list:
        base = self.root / "synthetic" / "train" / "train"
        if not (base / "video").is_dir():
            _fail(base / "video", "training mosaic folder not found", "copy MUSIC-Synthetic's train/train/ there")
        items = []
        for frame in sorted((base / "video").glob("*.jpg")):
            audio = next((base / "audio" / (frame.stem + s) for s in AUDIO_SUFFIXES
                          if (base / "audio" / (frame.stem + s)).is_file()), None)
            if self._media_ok(frame.stem, frame, audio, None):
                items.append({"key": frame.stem, "frame": frame, "audio": audio, "second": None, "objects": []})
        return items

    # ---- samples -------------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.items)

    def _audio(self, it) -> np.ndarray:
        if it["second"] is None:
            return read_audio(it["audio"], 16000, 1.0, crop="start", short="pad", layout=LAYOUT, error=MusicFormatError)
        if self._wave[0] != it["audio"]:   # the whole clip, once per video; second NNN cut from it
            secs = self._duration(it["audio"])
            self._wave = (it["audio"], read_audio(it["audio"], 16000, secs, crop="start", short="pad",
                                                  layout=LAYOUT, error=MusicFormatError))
        return self._wave[1][it["second"] * 16000:(it["second"] + 1) * 16000]

    def __getitem__(self, i: int) -> dict:
        it, S = self.items[i], self.image_size
        objects = [{"class": c, "box": _norm_to_box(nb, S) if nb is not None else None, "sounding": True}
                   for c, nb in it["objects"]]
        sounding = sorted({o["class"] for o in objects})
        kind = {"synthetic": "mosaic"}.get(self.subset, self.subset)
        out = {"frame": read_image(it["frame"], S, LAYOUT, MusicFormatError), "audio": self._audio(it),
               "sample_rate": 16000, "kind": kind, "objects": [o for o in objects if o["box"] is not None],
               "sounding_classes": sounding, "silent_classes": [], "index": i, "key": it["key"]}
        if self.subset == "solo" and sounding:
            out["label"] = sounding[0]
        return out

    def __repr__(self):
        return (f"Music({str(self.root)!r}, {self.subset}/{self.split}: {len(self)} of {self.total} frames, "
                f"{self.skipped})")
