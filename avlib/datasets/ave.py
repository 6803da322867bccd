"""The AVE dataset's pre-extracted features (Tian et al. 2018), in the official HDF5 layout.

The layout used by AVEL (YapengTian/AVE-ECCV18) and PSP (jasongief/PSP_CVPR_2021); every
file holds one dataset under the key ``avadataset`` except the split files (key ``order``):

===========================  =====================  =============================================
file                         shape                  content
===========================  =====================  =============================================
``visual_feature.h5``        (4143, 10, 7, 7, 512)  VGG-19 pool5 maps, one per 1-s segment
``audio_feature.h5``         (4143, 10, 128)        VGGish embeddings
``right_labels.h5``          (4143, 10, 29)         one-hot segment labels, background = index 28
``prob_label.h5``            (4143, 29)             weak labels: fraction of segments per class
``mil_labels.h5``            (4143, 29)             weak labels: which classes occur (0/1)
``train_order.h5`` …         (3339,) (402,) (402,)  video indices of the train / val / test split
``visual_feature_noisy.h5``  (M, 10, 7, 7, 512)     weak setting only: background-only videos
``audio_feature_noisy.h5``   (M, 10, 128)
``labels_noisy.h5``          (M, 29)                their video-level labels (background)
===========================  =====================  =============================================

:func:`load_ave` returns the same structure as :func:`avlib.features.events_features`
(plus ``splits`` and, in the weak setting, ``weak_labels``), so a chapter can swap the world
for the real data by setting ``data_root``. Bad input raises :class:`AVEFormatError`,
naming the file, the expected layout and the fix.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

T, NUM_CLASSES = 10, 29
KEY, ORDER_KEY = "avadataset", "order"
SPLITS = ("train", "val", "test")
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
    "prob_label.h5": ((None, NUM_CLASSES), "weak labels: per-class fraction of segments"),
    "mil_labels.h5": ((None, NUM_CLASSES), "weak labels: class present (0/1)"),
    "visual_feature_noisy.h5": ((None, T, 7, 7, 512), "background-only videos, visual (weak setting)"),
    "audio_feature_noisy.h5": ((None, T, 128), "background-only videos, audio (weak setting)"),
    "labels_noisy.h5": ((None, NUM_CLASSES), "background-only videos, video-level labels (weak setting)"),
}
FIX = ("download the AVE features of the official AVEL/PSP repositories (YapengTian/AVE-ECCV18, "
       "jasongief/PSP_CVPR_2021) into data_root, or set data_root=None to use the built-in world")


class AVEFormatError(ValueError):
    """A missing or malformed AVE feature file."""


def _h5py():
    try:
        import h5py
    except ImportError as err:  # pragma: no cover - h5py is a pinned dependency
        raise ImportError("reading AVE features needs h5py: pip install h5py") from err
    return h5py


def read_h5(root: Path, name: str, key: str = KEY, shape=None, dtype=None) -> np.ndarray:
    """Read ``root/name``'s dataset ``key``, checking it against ``shape`` (None = any size)."""
    path = Path(root) / name
    shape = shape if shape is not None else LAYOUT.get(name, (None, ""))[0]
    want = "x".join("N" if s is None else str(s) for s in shape) if shape else "?"
    what = f"expected an HDF5 file with dataset {key!r} of shape ({want})"
    if not path.is_file():
        raise AVEFormatError(f"AVE file {path} not found; {what}. Fix: {FIX}")
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as f:
            if key not in f:
                raise AVEFormatError(f"{path} has no dataset {key!r} (keys: {sorted(f.keys())}); {what}. "
                                     f"Fix: use the official file, whose data are stored under {key!r}")
            data = f[key][()] if dtype is None else f[key][()].astype(dtype)
    except OSError as err:
        raise AVEFormatError(f"{path} is not a readable HDF5 file ({err}); {what}. Fix: re-download it") from err
    if shape and (data.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, data.shape))):
        raise AVEFormatError(f"{path}: dataset {key!r} has shape {data.shape}; {what}. "
                             f"Fix: use the official AVE feature file (not a re-extraction with another backbone)")
    return data


def read_order(root: Path, split: str) -> np.ndarray:
    """Video indices of ``split`` from ``{split}_order.h5`` (key ``order``)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {SPLITS}")
    return read_h5(root, f"{split}_order.h5", ORDER_KEY, shape=(None,)).astype(np.int64).reshape(-1)


def load_ave(data_root, setting: str = "full", noisy: bool = True, dtype=np.float16) -> dict:
    """Load AVE features and labels from ``data_root`` (the official HDF5 layout, see the module doc).

    Returns ``visual`` (N, 10, 7, 7, 512) in ``dtype``, ``audio`` (N, 10, 128) float32,
    ``segment_labels`` (N, 10) with background = 28, ``video_label`` (N,) (the event class),
    ``event`` (N, 10) bool, ``classes`` (the 28 AVE classes), ``splits`` {split: indices}.
    With ``setting="weak"`` also ``weak_labels`` (N, 29) from ``prob_label.h5`` and the
    ``mil_labels`` (N, 29); with ``noisy=True`` the background-only videos of the
    ``*_noisy.h5`` files are appended (indices N…N+M−1, added to the train split only), as the
    official weak training does.
    """
    if setting not in ("full", "weak"):
        raise ValueError(f"unknown setting {setting!r}; use 'full' or 'weak'")
    if data_root is None:
        raise AVEFormatError(f"data_root is None; Fix: {FIX}")
    root = Path(data_root)
    if not root.is_dir():
        raise AVEFormatError(f"AVE data_root {root} is not a folder; Fix: {FIX}")
    visual = read_h5(root, "visual_feature.h5", dtype=dtype)
    n = len(visual)
    audio = read_h5(root, "audio_feature.h5", dtype=np.float32)
    onehot = read_h5(root, "right_labels.h5")
    for name, arr in (("audio_feature.h5", audio), ("right_labels.h5", onehot)):
        if len(arr) != n:
            raise AVEFormatError(f"{root / name} holds {len(arr)} videos but visual_feature.h5 holds {n}; "
                                 f"expected the same N in every file. Fix: {FIX}")
    seg = onehot.argmax(-1).astype(np.int64)
    event = seg != NUM_CLASSES - 1
    counts = np.stack([np.bincount(s[e], minlength=NUM_CLASSES - 1) for s, e in zip(seg, event)]) \
        if n else np.zeros((0, NUM_CLASSES - 1), int)
    out = {"visual": visual, "audio": audio, "segment_labels": seg, "event": event,
           "video_label": counts.argmax(-1).astype(np.int64), "classes": list(AVE_CLASSES),
           "splits": {s: read_order(root, s) for s in SPLITS}}
    for s, idx in out["splits"].items():
        if len(idx) and (idx.min() < 0 or idx.max() >= n):
            raise AVEFormatError(f"{root / f'{s}_order.h5'} indexes videos up to {idx.max()} but there are {n}; "
                                 f"Fix: use the split files that came with these features")
    if setting == "weak":
        out["weak_labels"] = read_h5(root, "prob_label.h5", dtype=np.float32)
        out["mil_labels"] = read_h5(root, "mil_labels.h5", dtype=np.float32)
        for name in ("weak_labels", "mil_labels"):
            if len(out[name]) != n:
                raise AVEFormatError(f"{name} in {root} holds {len(out[name])} videos, expected {n}. Fix: {FIX}")
        if noisy:
            nv = read_h5(root, "visual_feature_noisy.h5", dtype=dtype)
            na = read_h5(root, "audio_feature_noisy.h5", dtype=np.float32)
            nl = read_h5(root, "labels_noisy.h5", dtype=np.float32)
            if not len(nv) == len(na) == len(nl):
                raise AVEFormatError(f"the noisy files in {root} disagree on the number of videos "
                                     f"({len(nv)}, {len(na)}, {len(nl)}). Fix: {FIX}")
            m = len(nv)
            bg = np.full((m, T), NUM_CLASSES - 1, np.int64)
            out["visual"] = np.concatenate([visual, nv])
            out["audio"] = np.concatenate([audio, na])
            out["segment_labels"] = np.concatenate([seg, bg])
            out["event"] = np.concatenate([event, np.zeros((m, T), bool)])
            out["video_label"] = np.concatenate([out["video_label"], nl[:, :-1].argmax(-1)])
            out["weak_labels"] = np.concatenate([out["weak_labels"], nl])
            out["mil_labels"] = np.concatenate([out["mil_labels"], nl])
            out["splits"]["train"] = np.concatenate([out["splits"]["train"], np.arange(n, n + m)])
    return out
