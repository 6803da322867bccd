"""DCASE 2017 task 4 ("large-scale weakly supervised sound event detection for smart cars")
with the clips' audio and frames, as Parekh et al. (2018) use it.

Labels: the challenge's public weak-label files, tab-separated, one row per (clip, label)::

    groundtruth_weak_label_training_set.csv     (51,172 clips; the paper's train split)
    groundtruth_weak_label_testing_set.csv      (488 clips;    the paper's validation split)
    groundtruth_weak_label_evaluation_set.csv   (1,103 clips;  the paper's test split)

    <ytid>_<start>_<end>.wav<TAB><start><TAB><end><TAB><label>

for example ``--0PQM4-hqg_30.000_40.000.wav	30.000	40.000	Bus``; labels are the 17 class
names of :data:`DCASE_CLASSES` (some contain commas, hence the tabs).

Media, a layout of our choosing (the challenge ships audio only; frames come from the
YouTube videos, which the user extracts)::

    data_root/audio/<wav name>              the clip's audio (any rate, mono or stereo; a
                                            ``Y`` prefix, as in the challenge's archives, is accepted)
    data_root/frames/<wav stem>/<t>.jpg     frames at 1 fps, ``t`` = 0 … 9 (any size, resized to 112²)

:class:`DCASE2017Task4` yields samples shaped like the world's ``weak_multilabel`` ones:
``frames`` (10, 112, 112, 3) uint8, ``audio`` (160000,) float32 at 16 kHz (resampled,
mixed to mono, cropped or zero-padded to 10 s), ``labels`` (17,) multi-hot. There is no
per-second or per-box truth. Bad input raises :class:`DCASEFormatError` naming the file,
the expected layout and the fix; nothing is skipped silently.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

DCASE_CLASSES = ("Train horn", "Air horn, truck horn", "Car alarm", "Reversing beeps", "Ambulance (siren)",
                 "Police car (siren)", "Fire engine, fire truck (siren)", "Civil defense siren", "Screaming",
                 "Bicycle", "Skateboard", "Car", "Car passing by", "Bus", "Truck", "Motorcycle", "Train")
SPLIT_FILES = {"train": "groundtruth_weak_label_training_set.csv",
               "val": "groundtruth_weak_label_testing_set.csv",
               "test": "groundtruth_weak_label_evaluation_set.csv"}
SECONDS, SAMPLE_RATE, IMAGE_SIZE = 10, 16_000, 112
LAYOUT = ("data_root/groundtruth_weak_label_{training,testing,evaluation}_set.csv (tab-separated "
          "'<ytid>_<start>_<end>.wav<TAB>start<TAB>end<TAB>label', one row per label), "
          "data_root/audio/<wav name>, data_root/frames/<wav stem>/<0..9>.jpg")
FIX = ("put the DCASE 2017 task 4 weak-label files, the clips' audio and their 1-fps frames in that "
       "layout under data_root, or set data_root=None to use the built-in world")


class DCASEFormatError(ValueError):
    """A missing or malformed DCASE 2017 task 4 file."""


def _error(path, problem) -> DCASEFormatError:
    return DCASEFormatError(f"{path}: {problem}. Expected layout: {LAYOUT}. Fix: {FIX}.")


def read_weak_labels(path) -> dict[str, list[str]]:
    """Parse a ``groundtruth_weak_label_*_set.csv`` file → {wav name: [labels]} (file order)."""
    path = Path(path)
    if not path.is_file():
        raise _error(path, "file not found")
    clips: dict[str, list[str]] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.rstrip("\r").split("\t")
        if len(fields) != 4:
            raise _error(path, f"line {lineno} has {len(fields)} tab-separated fields, expected 4 "
                               f"(wav, start, end, label): {line!r}")
        name, start, end, label = fields
        try:
            t0, t1 = float(start), float(end)
        except ValueError:
            raise _error(path, f"line {lineno}: start/end {start!r}, {end!r} are not numbers") from None
        if not name.endswith(".wav") or t1 <= t0:
            raise _error(path, f"line {lineno}: expected '<ytid>_<start>_<end>.wav' and end > start, got {line!r}")
        if label not in DCASE_CLASSES:
            raise _error(path, f"line {lineno}: unknown label {label!r}; the 17 classes are {list(DCASE_CLASSES)}")
        labels = clips.setdefault(name, [])
        if label not in labels:
            labels.append(label)
    if not clips:
        raise _error(path, "no label rows")
    return clips


def _read_audio(path: Path) -> np.ndarray:
    import soundfile as sf
    import torch
    import torchaudio
    try:
        wave, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises RuntimeError / LibsndfileError
        raise _error(path, f"unreadable audio ({err})") from None
    wave = wave.mean(1)
    if sr != SAMPLE_RATE:
        wave = torchaudio.functional.resample(torch.from_numpy(wave), sr, SAMPLE_RATE).numpy()
    n = SECONDS * SAMPLE_RATE
    return np.pad(wave[:n], (0, max(0, n - len(wave)))).astype(np.float32)


def _read_frames(folder: Path) -> np.ndarray:
    from PIL import Image
    if not folder.is_dir():
        raise _error(folder, "frames folder not found")
    frames = []
    for t in range(SECONDS):
        f = folder / f"{t}.jpg"
        if not f.is_file():
            raise _error(f, f"frame {t} missing (need {SECONDS} frames at 1 fps named 0.jpg … {SECONDS - 1}.jpg)")
        try:
            img = Image.open(f).convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
        except Exception as err:
            raise _error(f, f"unreadable image ({err})") from None
        frames.append(np.asarray(img, dtype=np.uint8))
    return np.stack(frames)


class DCASE2017Task4:
    """One split (``train``, ``val``, ``test``) of DCASE 2017 task 4 with audio and frames.

    ``len(ds)``, ``ds[i]`` (a dict like the world's ``weak_multilabel`` samples), ``ds.classes``,
    ``ds.names`` (wav names). All files are checked at construction, so a missing one fails
    early with its name rather than in the middle of a feature extraction.
    """

    name = "dcase2017_task4"

    def __init__(self, root, split: str = "train", check_media: bool = True):
        if split not in SPLIT_FILES:
            raise ValueError(f"unknown split {split!r}; valid: {list(SPLIT_FILES)}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise _error(self.root, "data_root is not a directory")
        self.split = split
        self.classes = DCASE_CLASSES
        labels = read_weak_labels(self.root / SPLIT_FILES[split])
        self.names = list(labels)
        self.labels = np.zeros((len(self.names), len(DCASE_CLASSES)), np.float32)
        for i, n in enumerate(self.names):
            self.labels[i, [DCASE_CLASSES.index(lb) for lb in labels[n]]] = 1
        self.n = len(self.names)
        self.config = f"DCASE2017Task4(root={str(self.root.resolve())!r}, split={split!r}, n={self.n})"
        self.seed = 0
        if check_media:
            for n in self.names:
                self.audio_path(n)
                folder = self.root / "frames" / n[:-4]
                if not folder.is_dir():
                    raise _error(folder, f"frames folder of clip {n} not found")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return self.n

    def audio_path(self, name: str) -> Path:
        for candidate in (self.root / "audio" / name, self.root / "audio" / f"Y{name}"):
            if candidate.is_file():
                return candidate
        raise _error(self.root / "audio" / name, f"audio of clip {name} not found (also tried the Y-prefixed name)")

    def __getitem__(self, i: int) -> dict:
        if not -self.n <= i < self.n:
            raise IndexError(f"clip {i} out of range for a split of {self.n}")
        i %= self.n
        name = self.names[i]
        return {"frames": _read_frames(self.root / "frames" / name[:-4]), "audio": _read_audio(self.audio_path(name)),
                "sample_rate": SAMPLE_RATE, "labels": self.labels[i].copy(), "index": i, "name": name,
                "audio_on": None, "visual_on": None, "objects": None}
