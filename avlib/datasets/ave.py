"""The AVE dataset's pre-extracted features (Tian et al. 2018), in the official HDF5 layout.

The layout used by AVEL (YapengTian/AVE-ECCV18) and PSP (jasongief/PSP_CVPR_2021); every
file holds one dataset under the key ``avadataset`` except the split files (key ``order``):

===========================  =====================  =============================================
file                         shape                  content
===========================  =====================  =============================================
``visual_feature.h5``        (4143, 10, 7, 7, 512)  VGG-19 pool5 maps, one per 1-s segment
``audio_feature.h5``         (4143, 10, 128)        VGGish embeddings
``right_labels.h5``          (4143, 10, 29)         one-hot segment labels, background = index 28
                                                    (AVEL's code names it ``labels.h5``: accepted too)
``prob_label.h5``            (4143, 29)             weak labels: fraction of segments per class
``mil_labels.h5``            (4143, 29)             weak labels: which classes occur (0/1)
``train_order.h5`` …         (3339,) (402,) (402,)  video indices of the train / val / test split
``visual_feature_noisy.h5``  (M, 10, 7, 7, 512)     weak setting only: background-only videos
``audio_feature_noisy.h5``   (M, 10, 128)
``labels_noisy.h5``          (M, 29)                their video-level labels (background)
===========================  =====================  =============================================

:func:`load_ave` returns the same structure as :func:`avlib.features.events_features`
(plus ``splits``, ``skipped`` and, in the weak setting, ``weak_labels``), so a chapter can swap
the world for the real data by setting ``data_root``. The official splits are the
denominators: accuracy is over every segment of every test video (background included), as in
the official evaluation; ``videos=`` reads a subset (the small scales) and nothing else.

Memory: the visual file is 8.3 GB of float32. It is read in chunks of :data:`CHUNK` videos
straight into a preallocated float16 array (2.1 GB for all 4,143 videos), so the float32 data
never sit in memory whole; with ``videos=`` only those rows are read.

A video with no event segment (every segment background: the weak setting's ``*_noisy.h5``
videos) has ``video_label`` :data:`BACKGROUND` (28), not a class index. A video whose
``right_labels`` rows are not one-hot is left out of its split and counted in ``skipped``
(an :class:`avlib.datasets.io.SkipLog`). Bad files raise :class:`AVEFormatError` (a
:class:`~avlib.datasets.io.DatasetFormatError`) naming the file, the layout and the fix.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import DatasetFormatError, SkipLog, fail, subsample

T, NUM_CLASSES = 10, 29
BACKGROUND = NUM_CLASSES - 1  #: the background index of ``right_labels.h5`` (and of a video with no event)
KEY, ORDER_KEY = "avadataset", "order"
SPLITS = ("train", "val", "test")
CHUNK = 64  #: videos per read of a feature file (64 visual videos = 64 MB of float32)
AVE_CLASSES = ("Church bell", "Male speech, man speaking", "Bark", "Fixed-wing aircraft, airplane",
               "Race car, auto racing", "Female speech, woman speaking", "Helicopter", "Violin, fiddle",
               "Flute", "Ukulele", "Frying (food)", "Truck", "Shofar", "Motorcycle", "Acoustic guitar",
               "Train horn", "Clock", "Banjo", "Goat", "Baby cry, infant cry", "Bus", "Chainsaw", "Cat",
               "Horse", "Toilet flush", "Rodents, rats, mice", "Accordion", "Mandolin")
# file → (shape with None for "any length", what it holds)
LAYOUT = {
    "visual_feature.h5": ((None, T, 7, 7, 512), "VGG-19 visual feature maps"),
    "audio_feature.h5": ((None, T, 128), "VGGish audio embeddings"),
    "right_labels.h5": ((None, T, NUM_CLASSES), "one-hot segment labels (background = index 28)"),
    "labels.h5": ((None, T, NUM_CLASSES), "one-hot segment labels (AVEL's name for right_labels.h5)"),
    "prob_label.h5": ((None, NUM_CLASSES), "weak labels: per-class fraction of segments"),
    "mil_labels.h5": ((None, NUM_CLASSES), "weak labels: class present (0/1)"),
    "visual_feature_noisy.h5": ((None, T, 7, 7, 512), "background-only videos, visual (weak setting)"),
    "audio_feature_noisy.h5": ((None, T, 128), "background-only videos, audio (weak setting)"),
    "labels_noisy.h5": ((None, NUM_CLASSES), "background-only videos, video-level labels (weak setting)"),
}
#: the segment-label file under its PSP name and under AVEL's (the first present is read)
SEGMENT_LABEL_FILES = ("right_labels.h5", "labels.h5")
FIX = ("download the AVE features of the official AVEL/PSP repositories (YapengTian/AVE-ECCV18, "
       "jasongief/PSP_CVPR_2021) into data_root, or set data_root=None to use the built-in world")


class AVEFormatError(DatasetFormatError):
    """A missing or malformed AVE feature file (kept under its old name; a :class:`DatasetFormatError`)."""


def _h5py():
    try:
        import h5py
    except ImportError as err:  # pragma: no cover - h5py is a pinned dependency
        raise ImportError("reading AVE features needs h5py: pip install h5py") from err
    return h5py


def _layout(shape, key) -> str:
    want = "x".join("N" if s is None else str(s) for s in shape) if shape else "?"
    return f"an HDF5 file with dataset {key!r} of shape ({want})"


def read_h5(root: Path, name: str, key: str = KEY, shape=None, dtype=None, rows=None) -> np.ndarray:
    """Read ``root/name``'s dataset ``key`` (checked against ``shape``; None = any size).

    ``rows``: sorted video indices to read (None: all). The data are read :data:`CHUNK` rows at
    a time into one preallocated array of ``dtype`` (default: the file's), so a float32 file
    read as float16 never sits in memory as float32.
    """
    path = Path(root) / name
    shape = shape if shape is not None else LAYOUT.get(name, (None, ""))[0]
    layout = _layout(shape, key)
    if not path.is_file():
        fail(path, "AVE file not found", layout, FIX, AVEFormatError)
    try:
        with _h5py().File(path, "r") as f:
            if key not in f:
                fail(path, f"no dataset {key!r} (keys: {sorted(f.keys())})", layout,
                     f"use the official file, whose data are stored under {key!r}", AVEFormatError)
            ds = f[key]
            if shape and (ds.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, ds.shape))):
                fail(path, f"dataset {key!r} has shape {ds.shape}", layout,
                     "use the official AVE feature file (not a re-extraction with another backbone)", AVEFormatError)
            rows = np.arange(len(ds)) if rows is None else np.asarray(rows, dtype=np.int64)
            if len(rows) and (rows.min() < 0 or rows.max() >= len(ds)):
                fail(path, f"asked for video {rows.max()} but the file holds {len(ds)}", layout, FIX, AVEFormatError)
            out = np.empty((len(rows), *ds.shape[1:]), dtype=dtype or ds.dtype)
            for s in range(0, len(rows), CHUNK):
                r = rows[s:s + CHUNK]
                contiguous = len(r) and r[-1] - r[0] == len(r) - 1
                out[s:s + len(r)] = ds[r[0]:r[-1] + 1] if contiguous else ds[r]
    except OSError as err:
        fail(path, f"not a readable HDF5 file ({err})", layout, "re-download it", AVEFormatError)
    return out


def read_order(root: Path, split: str) -> np.ndarray:
    """Video indices of ``split`` from ``{split}_order.h5`` (key ``order``)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {SPLITS}")
    return read_h5(root, f"{split}_order.h5", ORDER_KEY, shape=(None,)).astype(np.int64).reshape(-1)


def segment_label_file(root: Path) -> str:
    """The segment-label file's name in ``root``: ``right_labels.h5`` (PSP) or ``labels.h5`` (AVEL)."""
    for name in SEGMENT_LABEL_FILES:
        if (Path(root) / name).is_file():
            return name
    fail(Path(root) / SEGMENT_LABEL_FILES[0], "AVE segment-label file not found (also looked for labels.h5, "
         "AVEL's name)", _layout(LAYOUT["right_labels.h5"][0], KEY), FIX, AVEFormatError)


def _n_videos(root: Path, name: str) -> int:
    read_h5(root, name, rows=[])  # checks existence, key and shape
    with _h5py().File(Path(root) / name, "r") as f:
        return len(f[KEY])


def video_labels(seg: np.ndarray) -> np.ndarray:
    """Each video's event class: its most frequent non-background segment label, :data:`BACKGROUND` if none."""
    event = seg != BACKGROUND
    counts = np.stack([np.bincount(s[e], minlength=BACKGROUND) for s, e in zip(seg, event)]) \
        if len(seg) else np.zeros((0, BACKGROUND), int)
    return np.where(event.any(1), counts.argmax(-1), BACKGROUND).astype(np.int64)


def load_ave(data_root, setting: str = "full", noisy: bool = True, dtype=np.float16,
             videos: dict | None = None) -> dict:
    """Load AVE features and labels from ``data_root`` (the official HDF5 layout, see the module doc).

    Returns ``visual`` (n, 10, 7, 7, 512) in ``dtype``, ``audio`` (n, 10, 128) float32,
    ``segment_labels`` (n, 10) with background = 28, ``video_label`` (n,) (the event class,
    28 for a video without event), ``event`` (n, 10) bool, ``classes`` (the 28 AVE classes),
    ``splits`` {split: indices into these arrays}, ``ids`` (n,) the videos' indices in the files,
    ``split_sizes`` {split: official size}, ``skipped`` (a :class:`SkipLog`).

    ``videos``: {split: k} reads only k videos of the split (the same sorted subset each time,
    :func:`avlib.datasets.io.subsample` with seed 0); None or a missing split: all of it.
    With ``setting="weak"`` also ``weak_labels`` (n, 29) from ``prob_label.h5`` and the
    ``mil_labels`` (n, 29); with ``noisy=True`` the background-only videos of the
    ``*_noisy.h5`` files are appended (added to the train split only, ``video_label`` 28), as
    the official weak training does.
    """
    if setting not in ("full", "weak"):
        raise ValueError(f"unknown setting {setting!r}; use 'full' or 'weak'")
    if data_root is None:
        raise AVEFormatError(f"data_root is None; Fix: {FIX}")
    root = Path(data_root)
    if not root.is_dir():
        fail(root, "AVE data_root is not a folder", "the files listed in avlib/datasets/ave.py", FIX, AVEFormatError)
    n = _n_videos(root, "visual_feature.h5")
    weak_files = ("prob_label.h5", "mil_labels.h5") if setting == "weak" else ()
    labels_file = segment_label_file(root)
    for name in ("audio_feature.h5", labels_file) + weak_files:
        if (m := _n_videos(root, name)) != n:
            fail(root / name, f"holds {m} videos but visual_feature.h5 holds {n}",
                 "the same N in every file", FIX, AVEFormatError)
    order = {s: read_order(root, s) for s in SPLITS}
    for s, idx in order.items():
        if len(idx) and (idx.min() < 0 or idx.max() >= n):
            fail(root / f"{s}_order.h5", f"indexes videos up to {idx.max()} but there are {n}",
                 "indices 0..N-1 of the feature files", "use the split files that came with these features",
                 AVEFormatError)
    skipped = SkipLog("videos")
    for s, idx in order.items():
        skipped.file(root / f"{s}_order.h5", len(idx))
    skipped.file(root / labels_file)
    onehot = read_h5(root, labels_file)
    ok = (np.abs(onehot.sum(-1) - 1) < 1e-3).all(1) & ((onehot == 0) | (onehot == 1)).all((1, 2))
    chosen = {}
    for s, idx in order.items():
        for i in idx[~ok[idx]]:
            skipped.add(f"{s}: segment labels not one-hot", f"video {i}")
        keep = idx[ok[idx]]
        chosen[s] = keep[subsample(len(keep), (videos or {}).get(s), seed=0)]
    ids = np.unique(np.concatenate(list(chosen.values())))  # sorted file rows, read once each
    seg = onehot[ids].argmax(-1).astype(np.int64)
    out = {"visual": read_h5(root, "visual_feature.h5", dtype=dtype, rows=ids),
           "audio": read_h5(root, "audio_feature.h5", dtype=np.float32, rows=ids),
           "segment_labels": seg, "event": seg != BACKGROUND, "video_label": video_labels(seg),
           "classes": list(AVE_CLASSES), "ids": ids, "skipped": skipped,
           "splits": {s: np.searchsorted(ids, c) for s, c in chosen.items()},
           "split_sizes": {s: len(idx) for s, idx in order.items()}}
    if setting == "weak":
        out["weak_labels"] = read_h5(root, "prob_label.h5", dtype=np.float32, rows=ids)
        out["mil_labels"] = read_h5(root, "mil_labels.h5", dtype=np.float32, rows=ids)
        if noisy:
            _append_noisy(root, out, dtype)
    return out


def _append_noisy(root: Path, out: dict, dtype) -> None:
    """Append the weak setting's background-only videos (train split only, ``video_label`` 28)."""
    nv = read_h5(root, "visual_feature_noisy.h5", dtype=dtype)
    na = read_h5(root, "audio_feature_noisy.h5", dtype=np.float32)
    nl = read_h5(root, "labels_noisy.h5", dtype=np.float32)
    if not len(nv) == len(na) == len(nl):
        fail(root / "labels_noisy.h5",
             f"the noisy files disagree on the number of videos ({len(nv)}, {len(na)}, {len(nl)})",
             "visual_feature_noisy.h5, audio_feature_noisy.h5 and labels_noisy.h5 with the same M", FIX, AVEFormatError)
    n, m = len(out["visual"]), len(nv)
    out["visual"] = np.concatenate([out["visual"], nv])
    out["audio"] = np.concatenate([out["audio"], na])
    out["segment_labels"] = np.concatenate([out["segment_labels"], np.full((m, T), BACKGROUND, np.int64)])
    out["event"] = np.concatenate([out["event"], np.zeros((m, T), bool)])
    out["video_label"] = np.concatenate([out["video_label"], np.full(m, BACKGROUND, np.int64)])
    out["weak_labels"] = np.concatenate([out["weak_labels"], nl])
    out["mil_labels"] = np.concatenate([out["mil_labels"], nl])
    out["ids"] = np.concatenate([out["ids"], -1 - np.arange(m)])  # negative: rows of the *_noisy files
    out["splits"]["train"] = np.concatenate([out["splits"]["train"], np.arange(n, n + m)])
