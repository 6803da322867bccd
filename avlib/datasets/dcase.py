"""DCASE 2017 task 4 ("large-scale weakly supervised sound event detection for smart cars")
with the clips' audio and frames, as Parekh et al. (2018) use it.

Labels: the challenge's public weak-label files, tab-separated, one row per (clip, label)::

    groundtruth_weak_label_training_set.csv     (51,172 clips; the paper's train split)
    groundtruth_weak_label_testing_set.csv      (488 clips;    the paper's validation split)
    groundtruth_weak_label_evaluation_set.csv   (1,103 clips;  the paper's test split)

    <ytid>_<start>_<end>.wav<TAB><start><TAB><end><TAB><label>

for example ``--0PQM4-hqg_30.000_40.000.wav	30.000	40.000	Bus``; a clip with several labels
has several rows, not necessarily adjacent (the files are grouped by label); labels are the 17
class names of :data:`DCASE_CLASSES` (some contain commas, hence the tabs). Source: the
challenge's repository (github.com/ankitshah009/Task-4-Large-scale-weakly-supervised-sound-event-
detection-for-smart-cars), files ``groundtruth_weak_label_*_set.csv`` and
``sound_event_list_17_classes.txt`` (the class order used here).

Media, a layout of our choosing (the challenge ships audio only; frames come from the
YouTube videos, which the user extracts)::

    data_root/audio/<wav name>              the clip's audio (any rate, mono or stereo; a
                                            ``Y`` prefix, as in the challenge's archives, is accepted)
    data_root/frames/<wav stem>/<t>.jpg     frames at 1 fps, ``t`` = 0 … 9 (any size, resized to 112²)

Many YouTube clips of the lists are gone, so a clip whose audio or frames are missing is, by
default (``missing="skip"``), left out and counted in :attr:`DCASE2017Task4.skipped` (an
:class:`~avlib.datasets.io.SkipLog` the chapter shows); ``missing="raise"`` refuses instead.
Denominators are the official lists' clips minus the skipped ones (and, at the small scales, a
fixed :func:`~avlib.datasets.io.subsample` of them).

:class:`DCASE2017Task4` yields samples shaped like the world's ``weak_multilabel`` ones:
``frames`` (10, 112, 112, 3) uint8, ``audio`` (160000,) float32 at 16 kHz (mixed to mono,
resampled, the first 10 s, zero-padded when shorter), ``labels`` (17,) multi-hot. There is no
per-second or per-box truth. Bad input raises :class:`DCASEFormatError` (a
:class:`~avlib.datasets.io.DatasetFormatError`) naming the file, the layout and the fix.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .io import DatasetFormatError, SkipLog, fail, read_audio, read_image, subsample

#: the official order of ``sound_event_list_17_classes.txt`` (DCASE 2017 task 4 repository)
DCASE_CLASSES = ("Train horn", "Air horn, truck horn", "Car alarm", "Reversing beeps", "Bicycle", "Skateboard",
                 "Ambulance (siren)", "Fire engine, fire truck (siren)", "Civil defense siren", "Police car (siren)",
                 "Screaming", "Car", "Car passing by", "Bus", "Truck", "Motorcycle", "Train")
SPLIT_FILES = {"train": "groundtruth_weak_label_training_set.csv",
               "val": "groundtruth_weak_label_testing_set.csv",
               "test": "groundtruth_weak_label_evaluation_set.csv"}
SECONDS, SAMPLE_RATE, IMAGE_SIZE = 10, 16_000, 112
LAYOUT = ("data_root/groundtruth_weak_label_{training,testing,evaluation}_set.csv (tab-separated "
          "'<ytid>_<start>_<end>.wav<TAB>start<TAB>end<TAB>label', one row per label), "
          "data_root/audio/<wav name>, data_root/frames/<wav stem>/<0..9>.jpg")
FIX = ("put the DCASE 2017 task 4 weak-label files, the clips' audio and their 1-fps frames in that "
       "layout under data_root, or set data_root=None to use the built-in world")


class DCASEFormatError(DatasetFormatError):
    """A missing or malformed DCASE 2017 task 4 file (kept under its old name)."""


def _fail(path, problem, fix=FIX):
    fail(path, problem, LAYOUT, fix, DCASEFormatError)


def read_weak_labels(path) -> dict[str, list[str]]:
    """Parse a ``groundtruth_weak_label_*_set.csv`` file → {wav name: [labels]} (first-appearance order)."""
    path = Path(path)
    if not path.is_file():
        _fail(path, "file not found")
    clips: dict[str, list[str]] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.rstrip("\r").split("\t")
        if len(fields) != 4:
            _fail(path, f"line {lineno} has {len(fields)} tab-separated fields, expected 4 "
                        f"(wav, start, end, label): {line!r}")
        name, start, end, label = fields
        try:
            t0, t1 = float(start), float(end)
        except ValueError:
            _fail(path, f"line {lineno}: start/end {start!r}, {end!r} are not numbers")
        if not name.endswith(".wav") or t1 <= t0:
            _fail(path, f"line {lineno}: expected '<ytid>_<start>_<end>.wav' and end > start, got {line!r}")
        if label not in DCASE_CLASSES:
            _fail(path, f"line {lineno}: unknown label {label!r}; the 17 classes are {list(DCASE_CLASSES)}")
        labels = clips.setdefault(name, [])
        if label not in labels:
            labels.append(label)
    if not clips:
        _fail(path, "no label rows")
    return clips


def read_clip_audio(path) -> np.ndarray:
    """A clip's first 10 s as mono float32 at 16 kHz, zero-padded when shorter (only 10 s are read)."""
    return read_audio(path, SAMPLE_RATE, SECONDS, crop="start", short="pad", layout=LAYOUT, error=DCASEFormatError)


def _listing(folder: Path) -> set:
    try:
        return set(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return set()


class DCASE2017Task4:
    """One split (``train``, ``val``, ``test``) of DCASE 2017 task 4 with audio and frames.

    ``len(ds)``, ``ds[i]`` (a dict like the world's ``weak_multilabel`` samples), ``ds.classes``,
    ``ds.names`` (wav names kept), ``ds.listed`` (clips in the official list), ``ds.skipped``
    (a :class:`~avlib.datasets.io.SkipLog` of the clips left out and why).

    ``missing``: ``"skip"`` leaves out a clip whose audio file, frames folder or one of its 10
    frames is absent (counted); ``"raise"`` fails on the first such clip. ``size``: keep a fixed
    subsample of that many of the available clips (``None``: all; see
    :func:`~avlib.datasets.io.subsample`). ``identity`` (e.g. :func:`avlib.repro.data_identity`)
    goes into :attr:`config`, which the feature caches key on, so changed files miss the cache.
    """

    name = "dcase2017_task4"

    def __init__(self, root, split: str = "train", missing: str = "skip", size: int | None = None, seed: int = 0,
                 identity: str | None = None):
        if split not in SPLIT_FILES:
            raise ValueError(f"unknown split {split!r}; valid: {list(SPLIT_FILES)}")
        if missing not in ("skip", "raise"):
            raise ValueError(f"missing must be 'skip' or 'raise', got {missing!r}")
        self.root = Path(root)
        if not self.root.is_dir():
            _fail(self.root, "data_root is not a directory")
        self.split, self.classes, self.seed = split, DCASE_CLASSES, seed
        labels = read_weak_labels(self.root / SPLIT_FILES[split])
        self.listed = len(labels)
        self.skipped = SkipLog("clips")
        self.file_status = self.skipped.file(self.root / SPLIT_FILES[split], len(labels))
        audio, frames = _listing(self.root / "audio"), _listing(self.root / "frames")
        self._audio = {}
        available = []
        for n in labels:                      # cheap membership tests on two folder listings
            a = n if n in audio else f"Y{n}" if f"Y{n}" in audio else None
            problem = ("audio file missing" if a is None else
                       "frames folder missing" if n[:-4] not in frames else None)
            if problem is None:
                self._audio[n] = a
                available.append(n)
            elif missing == "raise":
                where = self.root / "audio" / n if a is None else self.root / "frames" / n[:-4]
                _fail(where, f"{problem} for clip {n} (also tried the Y-prefixed audio name); "
                             "pass missing='skip' to leave such clips out and count them")
            else:
                self.skipped.add(problem, n)
        chosen = [available[i] for i in subsample(len(available), size, seed)]
        self.names = []
        for n in chosen:                      # the 10 frames, checked only for the clips kept
            folder = self.root / "frames" / n[:-4]
            lost = [t for t in range(SECONDS) if not (folder / f"{t}.jpg").is_file()]
            if not lost:
                self.names.append(n)
            elif missing == "raise":
                _fail(folder / f"{lost[0]}.jpg", f"frame {lost[0]} missing (need {SECONDS} frames at 1 fps "
                                                 f"named 0.jpg … {SECONDS - 1}.jpg)")
            else:
                self.skipped.add("frame files missing", n)
        self.labels = np.zeros((len(self.names), len(DCASE_CLASSES)), np.float32)
        for i, n in enumerate(self.names):
            self.labels[i, [DCASE_CLASSES.index(lb) for lb in labels[n]]] = 1
        self.n = len(self.names)
        self.available = len(available)
        if self.n == 0:
            _fail(self.root / SPLIT_FILES[split], f"none of the {self.listed} listed clips has its audio and "
                                                  f"frames ({self.skipped})")
        self.config = (f"DCASE2017Task4(data={identity or 'unkeyed'}, split={split!r}, n={self.n}, "
                       f"listed={self.listed}, size={size}, seed={seed}, missing={missing!r})")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return self.n

    def audio_path(self, name: str) -> Path:
        return self.root / "audio" / self._audio[name]

    def skip_table(self):
        """The skipped clips by reason, with their share of the official list."""
        return self.skipped.frame(self.listed)

    def __getitem__(self, i: int) -> dict:
        if not -self.n <= i < self.n:
            raise IndexError(f"clip {i} out of range for a split of {self.n}")
        i %= self.n
        name = self.names[i]
        folder = self.root / "frames" / name[:-4]
        frames = np.stack([read_image(folder / f"{t}.jpg", IMAGE_SIZE, LAYOUT, DCASEFormatError)
                           for t in range(SECONDS)])
        return {"frames": frames, "audio": read_clip_audio(self.audio_path(name)),
                "sample_rate": SAMPLE_RATE, "labels": self.labels[i].copy(), "index": i, "name": name,
                "audio_on": None, "visual_on": None, "objects": None}
