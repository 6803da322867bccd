"""AudioSet-instrument, DSOL's second benchmark (Hu et al. 2020), read from the released box file
unchanged (DTaoo/Discriminative-Sounding-Objects-Localization, ``audioset-instrument/``).

Layout under ``data_root`` (frames as ``scripts/cut_video.py`` writes them, renamed to the
11-character YouTube id by ``scripts/generate_test.py``; the clip's audio as ``scripts/cut_audio.py``
reads it)::

    <data_root>/audioset_box.json                               4,503 keys, 566 videos
    <data_root>/video_frames/<ytid>/frame_<NNN>/<xxxxx>.jpg     (the first frame of second NNN is used)
    <data_root>/audio/<ytid>*.wav                               (or .flac; the whole clip; second NNN is cut)

``audioset_box.json`` is keyed ``<ytid>/<second>`` (e.g. ``gp1DYuoQH08/6``) →
``{"bbox": [{"category": k, "normbox": [x, y, w, h] in 0..1}, ...]}``: no pixel box, no frame size,
categories 0..12. The class names are not in the released text files (they are in the
``PartitionForAudioset.zip`` label pickles, indexed by ``argmax`` of a one-hot vector), so classes
are named ``category_<k>``. A key with an empty box list (30 in the release) is skipped and
counted, as are keys whose frame or audio is missing; a corrupt box (non-finite, far outside 0..1,
or empty at 224 px) is dropped and counted in ``box_notes`` (:func:`avlib.datasets.music.usable_boxes`). Deviation: the official audio input is a
log-mel pickle per second (``audio_frames/<ytid>/<NNN>.pkl``); the book's encoders take the
waveform. Samples have the structure of :class:`avlib.datasets.music.Music`'s.
"""
from __future__ import annotations

from pathlib import Path

from .io import DatasetFormatError, SkipLog, fail, read_audio, read_image, read_json, subsample
from .music import _norm_to_box, usable_boxes

N_CATEGORIES = 13
CLASSES = tuple(f"category_{k}" for k in range(N_CATEGORIES))
AUDIO_SUFFIXES = (".wav", ".flac")
LAYOUT = ("<data_root>/audioset_box.json, <data_root>/video_frames/<ytid>/frame_<NNN>/<xxxxx>.jpg, "
          "<data_root>/audio/<ytid>*.wav (see avlib/datasets/audioset_instrument.py)")


def _fail(path, problem, fix="see the layout in avlib/datasets/audioset_instrument.py"):
    fail(path, problem, LAYOUT, fix, DatasetFormatError)


def read_boxes(path) -> dict:
    """Parse and validate ``audioset_box.json``."""
    path = Path(path)
    ann = read_json(path, dict, "object keyed by '<ytid>/<second>'",
                    "copy the official audioset-instrument/audioset_box.json there", LAYOUT)
    for key, entry in ann.items():
        parts = key.split("/")
        if len(parts) != 2 or not parts[1].isdigit():
            _fail(path, f"key {key!r} is not of the form '<ytid>/<second>'")
        if not isinstance(entry, dict) or not isinstance(entry.get("bbox"), list):
            _fail(path, f"entry {key!r} lacks a 'bbox' list")
        for b in entry["bbox"]:
            nb = b.get("normbox") if isinstance(b, dict) else None
            if not isinstance(nb, list) or len(nb) != 4 or not all(isinstance(v, (int, float)) for v in nb) \
                    or nb[2] <= 0 or nb[3] <= 0:   # NaN passes: the loader drops and counts a corrupt box
                _fail(path, f"entry {key!r} has a box without a positive 'normbox' [x, y, w, h]: {b!r}")
            if not isinstance(b.get("category"), int) or not 0 <= b["category"] < N_CATEGORIES:
                _fail(path, f"entry {key!r} has a category outside 0..{N_CATEGORIES - 1}: {b!r}")
    return ann


class AudioSetInstrument:
    """The AudioSet-instrument test frames: ``AudioSetInstrument(root)[i]``; ``skipped`` says what was left out."""

    name = "audioset-instrument"

    def __init__(self, data_root, image_size: int = 112, keep: int | None = None, seed: int = 0):
        root = Path(data_root)
        if not root.is_dir():
            _fail(root, "data_root is not a folder", "pass the folder holding audioset_box.json")
        self.root, self.classes, self.image_size = root, CLASSES, int(image_size)
        self.skipped, self.box_notes = SkipLog("AudioSet-instrument frames"), SkipLog("boxes")
        ann = read_boxes(root / "audioset_box.json")
        self.skipped.file(root / "audioset_box.json", len(ann))
        items = []
        for key in sorted(ann):
            ytid, sec = key.split("/")
            if not ann[key]["bbox"]:
                self.skipped.add("empty box list", key)
                continue
            frames = sorted(root.glob(f"video_frames/{ytid}*/frame_{int(sec):03d}/*.jpg"))
            audio = next((p for s in AUDIO_SUFFIXES for p in sorted(root.glob(f"audio/{ytid}*{s}"))), None)
            objs = usable_boxes([(b["category"], b["normbox"]) for b in ann[key]["bbox"]], key, self.box_notes)
            if not objs:
                self.skipped.add("every box dropped (corrupt or empty coordinates)", key)
            elif not frames:
                self.skipped.add("frame file missing", key)
            elif audio is None:
                self.skipped.add("audio file missing", key)
            else:
                items.append({"key": key, "frame": frames[0], "audio": audio, "second": int(sec), "objects": objs})
        self.total = len(items) + len(self.skipped)
        self.items = [items[i] for i in subsample(len(items), keep, seed)]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        import soundfile as sf
        it, S = self.items[i], self.image_size
        secs = sf.info(str(it["audio"])).duration
        if secs < it["second"] + 1:
            _fail(it["audio"], f"shorter ({secs:.1f} s) than the key's second {it['second']} + 1", "use the whole clip")
        wave = read_audio(it["audio"], 16000, secs, crop="start", short="pad", layout=LAYOUT)
        objects = [{"class": c, "box": _norm_to_box(nb, S), "sounding": True} for c, nb in it["objects"]]
        start = it["second"] * 16000
        return {"frame": read_image(it["frame"], S, LAYOUT), "audio": wave[start:start + 16000],
                "sample_rate": 16000, "kind": "audioset", "objects": objects,
                "sounding_classes": sorted({o["class"] for o in objects}), "silent_classes": [], "index": i,
                "key": it["key"]}

    def __repr__(self):
        return f"AudioSetInstrument({str(self.root)!r}, {len(self)} of {self.total} frames, {self.skipped})"
