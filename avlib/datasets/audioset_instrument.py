"""AudioSet-instrument, DSOL's second benchmark (Hu et al. 2020, Tables 1(b) and 2), read from the files
of DTaoo/Discriminative-Sounding-Objects-Localization (``audioset-instrument/``) unchanged.

Layout under ``data_root`` (frames as ``scripts/cut_video.py`` writes them, in folders named by the
clip, renamed to the 11-character YouTube id by ``scripts/generate_test.py``; the clip's audio as
``scripts/cut_audio.py`` reads it; the partition pickles as ``PartitionForAudioset.zip`` holds them)::

    <data_root>/audioset_box.json                                 test boxes: 4,503 keys, 566 videos
    <data_root>/audioset_single/single_{train,val}_data.pkl       solo partition (stage one)
    <data_root>/audioset_single/single_{train,val}_data_label.pkl
    <data_root>/audioset_multi/multi_{train,val}_data.pkl         multi-source partition (stage two)
    <data_root>/audioset_multi/multi_{train,val}_data_label.pkl
    <data_root>/video_frames/<clip>/frame_<NNN>/<xxxxx>.jpg       (the first frame of second NNN is used)
    <data_root>/audio/<clip>*.wav                                 (or .flac; the whole clip; second NNN is cut)

**Test frames** (``split="test"``): ``audioset_box.json`` is keyed ``<ytid>/<second>`` (e.g.
``gp1DYuoQH08/6``) → ``{"bbox": [{"category": k, "normbox": [x, y, w, h] in 0..1}, ...]}``: no pixel box,
no frame size, categories 0..12. The release has no solo/multi partition of the test frames, so
``sources="solo"`` keeps the keys with one box and ``sources="multi"`` those with two or more (the 30
keys with an empty box list are counted in the solo split's skip log); ``"all"`` keeps every key.

**Training partitions** (``split="solo_train"``, ``"solo_val"``, ``"multi_train"``, ``"multi_val"``), as the
official ``data/audioset.py`` reads them: ``<stem>_data.pkl`` is a pickled list of clip folder names
under ``video_frames/`` (and ``audio_frames/``); ``<stem>_data_label.pkl`` a pickled dict from the
11-character YouTube id — the last 11 characters of the folder name (``video_segment[-21:-10]``) —
to a 13-class label vector; the class is its ``argmax`` (``Linear(512, 13)`` in
``training_stage_one.py``). A multi-source vector may mark several classes: all marked ones are the
clip's ``sounding_classes``. Each second folder ``frame_<NNN>`` of a listed clip is one sample. The
official loader keeps only the first 100 listed clips (``data_list[:100]``); here every one is read
(``keep`` subsamples). The zip with these pickles is not in the stored snapshot of the repository:
their size and digest are unknown: the skip table says "no released version known" with that reason
(:data:`UNMEASURED`; :mod:`avlib.datasets.released`), and :func:`partition_digest` hashes their contents
for a chapter's cache keys.

Skipped and counted (never a traceback; the entry is named): keys with an empty box list; a box that
is corrupt (non-finite, far outside 0..1, or empty at 224 px; dropped and counted in ``box_notes``,
:func:`avlib.datasets.music.usable_boxes`); a listed clip absent from the label pickle, whose label is
not a 13-class vector of finite non-negative values with one set, or that is also a test video; a
missing frame folder, frame or audio file; audio shorter than the frame's second. A solo label marking
several classes keeps the ``argmax`` (as the official code) and is counted in ``label_notes``. The class
names are not in any released text file, so classes are named ``category_<k>``. Pickles are read with
an unpickler that builds only lists, dicts, strings, numbers and NumPy arrays. Deviation: the official
audio input is a log-mel pickle per second (``audio_frames/<clip>/<NNN>.pkl``); the book's encoders take
the waveform. Samples have the structure of :class:`avlib.datasets.music.Music`'s.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from .io import DatasetFormatError, SkipLog, fail, read_audio, read_image, read_json, subsample
from .music import _norm_to_box, usable_boxes

N_CATEGORIES = 13
CLASSES = tuple(f"category_{k}" for k in range(N_CATEGORIES))
AUDIO_SUFFIXES = (".wav", ".flac")
#: partition → (folder, file stem) of the official pickles (``data_list_dir`` of the training scripts)
PARTITIONS = {"solo": ("audioset_single", "single"), "multi": ("audioset_multi", "multi")}
SPLITS = ("test", "solo_train", "solo_val", "multi_train", "multi_val")
TEST_SOURCES = ("all", "solo", "multi")
ZIP = "audioset-instrument/data/PartitionForAudioset.zip"
#: a partition pickle's released-file status: the zip holding them is not in the stored snapshot
UNMEASURED = f"no released version known (inside {ZIP}, absent from the stored snapshot: size and digest unknown)"
LAYOUT = ("<data_root>/audioset_box.json, <data_root>/audioset_single/single_{train,val}_data.pkl (+ _label.pkl), "
          "<data_root>/audioset_multi/multi_{train,val}_data.pkl (+ _label.pkl), "
          "<data_root>/video_frames/<clip>/frame_<NNN>/<xxxxx>.jpg, <data_root>/audio/<clip>*.wav "
          "(see avlib/datasets/audioset_instrument.py)")
#: the only globals a partition pickle may name (containers, NumPy arrays; Python 2 and 3 names)
_SAFE_GLOBALS = {("builtins", n) for n in ("list", "dict", "tuple", "set", "frozenset", "str", "int", "float",
                                           "bytes", "bytearray", "object")} | \
    {("__builtin__", n) for n in ("list", "dict", "tuple", "set", "frozenset", "unicode", "str", "int", "long",
                                  "float", "object")} | \
    {("collections", "OrderedDict"), ("_codecs", "encode"), ("copy_reg", "_reconstructor"),
     ("copyreg", "_reconstructor"), ("numpy", "ndarray"), ("numpy", "dtype")} | \
    {(m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("_reconstruct", "scalar")} | \
    {(m, "_frombuffer") for m in ("numpy.core.numeric", "numpy._core.numeric")}


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


class _PartitionUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"refers to {module}.{name}, which a partition file does not hold")
        return super().find_class(module, name)


def read_pickle(path, kind: type, shape: str):
    """A partition pickle (a ``list`` of clip folders or a ``dict`` of labels), else a clear error."""
    path = Path(path)
    fix = f"unzip the official {ZIP} so that its audioset_single/ and audioset_multi/ folders are in data_root"
    if not path.is_file():
        _fail(path, "partition file not found", fix)
    try:
        with open(path, "rb") as f:
            data = _PartitionUnpickler(f, encoding="latin1").load()
    except Exception as err:   # any unpickling failure (truncated, not a pickle, a refused global) is the file's
        _fail(path, f"not a readable partition pickle ({type(err).__name__}: {err})", "copy the official file again")
    if isinstance(data, np.ndarray) and kind is list:
        data = data.tolist()
    if not isinstance(data, (kind, tuple) if kind is list else kind):
        _fail(path, f"holds a {type(data).__name__}, expected a {shape}", "copy the official file again")
    return data


def label_problem(vector) -> str | None:
    """Why ``vector`` is not a 13-class label (None: it is one)."""
    try:
        a = np.asarray(vector, dtype=float)
    except (TypeError, ValueError):
        return "not numeric"
    if a.shape != (N_CATEGORIES,):
        return f"shape {a.shape}, expected ({N_CATEGORIES},)"
    if not np.isfinite(a).all():
        return "non-finite value"
    if (a < 0).any():
        return "negative value"
    return None if a.max() > 0 else "no class set"


def partition_digest(root) -> str:
    """A 16-hex-digit hash of the partition pickles' contents (the folder fingerprint counts ``.pkl`` files by
    size only; a chapter adds this to its cache keys so that changed labels retrain)."""
    import hashlib
    h = hashlib.sha256()
    for split in SPLITS[1:]:
        for path in partition_files(root, split):
            h.update(f"{path.name}\0".encode() + (path.read_bytes() if path.is_file() else b"-"))
    return h.hexdigest()[:16]


def partition_files(root, split: str) -> tuple[Path, Path]:
    """The list and label pickles of a training split (``"solo_train"`` →
    ``audioset_single/single_train_data.pkl`` and ``single_train_data_label.pkl``)."""
    kind, part = split.split("_")
    folder, stem = PARTITIONS[kind]
    lst = Path(root) / folder / f"{stem}_{part}_data.pkl"
    return lst, lst.with_name(f"{stem}_{part}_data_label.pkl")


class AudioSetInstrument:
    """AudioSet-instrument as an index-addressable dataset: ``AudioSetInstrument(root)[i]`` (the test frames),
    ``AudioSetInstrument(root, split="solo_train")`` (a training partition); ``skipped`` says what was left out.

    ``sources`` (test only): ``"all"`` keys, ``"solo"`` (one box) or ``"multi"`` (two or more boxes).
    ``keep``: how many samples to keep (:func:`~avlib.datasets.io.subsample`, ``seed``), after skipping.
    """

    name = "audioset-instrument"

    def __init__(self, data_root, image_size: int = 112, keep: int | None = None, seed: int = 0, *,
                 split: str = "test", sources: str = "all"):
        if split not in SPLITS or sources not in TEST_SOURCES:
            raise ValueError(f"unknown AudioSet-instrument split/sources {split!r}/{sources!r}; "
                             f"valid: {SPLITS} × {TEST_SOURCES}")
        root = Path(data_root)
        if not root.is_dir():
            _fail(root, "data_root is not a folder", "pass the folder holding audioset_box.json")
        self.root, self.classes, self.image_size, self.split = root, CLASSES, int(image_size), split
        self.subset = sources if split == "test" else split.split("_")[0]    # "solo" / "multi" / "all"
        what = f"AudioSet-instrument {split} frames" + (f" ({sources})" if split == "test" else "")
        self.skipped, self.box_notes, self.label_notes = SkipLog(what), SkipLog("boxes"), SkipLog("labels")
        self._wave: tuple = (None, None)
        items = self._test(sources) if split == "test" else self._train()
        self.total = len(items) + len(self.skipped)
        self.items = [items[i] for i in subsample(len(items), keep, seed)]

    # ---- indexing ------------------------------------------------------------------------------
    def _audio_file(self, clip: str):
        return next((p for s in AUDIO_SUFFIXES for p in sorted(self.root.glob(f"audio/{clip}*{s}"))), None)

    def _test(self, sources: str) -> list:
        path = self.root / "audioset_box.json"
        ann = read_boxes(path)
        self.skipped.file(path, len(ann))
        items = []
        for key in sorted(ann):
            ytid, sec = key.split("/")
            n = len(ann[key]["bbox"])
            if n == 0:
                if sources != "multi":
                    self.skipped.add("empty box list", key)
                continue
            if (sources == "solo" and n != 1) or (sources == "multi" and n < 2):
                continue
            frames = sorted(self.root.glob(f"video_frames/{ytid}*/frame_{int(sec):03d}/*.jpg"))
            audio = self._audio_file(ytid)
            objs = usable_boxes([(b["category"], b["normbox"]) for b in ann[key]["bbox"]], key, self.box_notes)
            if not objs:
                self.skipped.add("every box dropped (corrupt or empty coordinates)", key)
            elif not frames:
                self.skipped.add("frame file missing", key)
            elif audio is None:
                self.skipped.add("audio file missing", key)
            elif self._duration(audio) < int(sec) + 1:
                self.skipped.add("audio shorter than the frame's second", key)
            else:
                items.append({"key": key, "frame": frames[0], "audio": audio, "second": int(sec), "objects": objs})
        return items

    def _train(self) -> list:
        lst_path, lab_path = partition_files(self.root, self.split)
        clips = read_pickle(lst_path, list, "list of clip folder names")
        labels = read_pickle(lab_path, dict, "dict from YouTube id to a 13-class label vector")
        for path, n in ((lst_path, len(clips)), (lab_path, len(labels))):
            if self.skipped.file(path, n) == "no released version known":
                self.skipped.files[path.name] = UNMEASURED
        box_file = self.root / "audioset_box.json"
        test_videos = {k.split("/")[0] for k in read_boxes(box_file)} if box_file.is_file() else set()
        items, seen = [], set()
        for clip in clips:
            if not isinstance(clip, str) or not clip or "/" in clip or clip in (".", ".."):
                self.skipped.add(f"entry of {lst_path.name} is not a clip folder name", repr(clip))
                continue
            if clip in seen:
                self.skipped.add(f"listed twice in {lst_path.name}", clip)
                continue
            seen.add(clip)
            vdir = self.root / "video_frames" / clip
            seconds = sorted(p for p in vdir.glob("frame_[0-9][0-9][0-9]") if p.is_dir()) if vdir.is_dir() else []
            ytid, why = clip[-11:], None
            if ytid not in labels:
                why = f"video not in {lab_path.name}"
            elif (bad := label_problem(labels[ytid])) is not None:
                why = f"corrupt label in {lab_path.name} ({bad})"
            elif ytid in test_videos:
                why = "test video (in audioset_box.json)"
            elif not seconds:
                why = "frame folder missing"
            elif (audio := self._audio_file(clip)) is None:
                why = "audio file missing"
            if why is not None:
                for s in seconds or [None]:
                    self.skipped.add(why, f"{clip}/{s.name}" if s else clip)
                continue
            vec = np.asarray(labels[ytid], dtype=float)
            marked = [int(c) for c in np.flatnonzero(vec > 0)]
            if self.subset == "solo":
                if len(marked) > 1:
                    self.label_notes.add("solo label marks several classes (argmax used, as the official code)", clip)
                marked = [int(np.argmax(vec))]
            for sdir in seconds:
                frames = sorted(sdir.glob("*.jpg"))
                name, sec = f"{clip}/{sdir.name}", int(sdir.name[6:])
                if not frames:
                    self.skipped.add("second folder without a frame", name)
                elif self._duration(audio) < sec + 1:
                    self.skipped.add("audio shorter than the frame's second", name)
                else:
                    items.append({"key": f"{name}/{frames[0].name}", "frame": frames[0], "audio": audio,
                                  "second": sec, "objects": [(c, None) for c in marked]})
        return items

    def _duration(self, path) -> float:
        import soundfile as sf
        try:
            return sf.info(str(path)).duration
        except (RuntimeError, sf.LibsndfileError) as err:
            _fail(path, f"unreadable audio ({err})", "re-export it as WAV or FLAC")

    # ---- samples -------------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.items)

    def _audio(self, it) -> np.ndarray:
        if self._wave[0] != it["audio"]:   # the whole clip, once per clip; second NNN cut from it
            self._wave = (it["audio"], read_audio(it["audio"], 16000, self._duration(it["audio"]), crop="start",
                                                  short="pad", layout=LAYOUT))
        return self._wave[1][it["second"] * 16000:(it["second"] + 1) * 16000]

    def __getitem__(self, i: int) -> dict:
        it, S = self.items[i], self.image_size
        objects = [{"class": c, "box": _norm_to_box(nb, S) if nb is not None else None, "sounding": True}
                   for c, nb in it["objects"]]
        sounding = sorted({o["class"] for o in objects})
        out = {"frame": read_image(it["frame"], S, LAYOUT), "audio": self._audio(it), "sample_rate": 16000,
               "kind": "audioset" if self.split == "test" else self.subset,
               "objects": [o for o in objects if o["box"] is not None], "sounding_classes": sounding,
               "silent_classes": [], "index": i, "key": it["key"]}
        if self.subset == "solo" and sounding:
            out["label"] = sounding[0]
        return out

    def __repr__(self):
        return (f"AudioSetInstrument({str(self.root)!r}, {self.split}/{self.subset}: {len(self)} of {self.total} "
                f"frames, {self.skipped})")
