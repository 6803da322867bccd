"""What every real-dataset loader shares: one error class, reading media, skip-and-count,
subsampling for the small scales, and the fingerprint of the files a chapter read.

- :class:`DatasetFormatError` — the one error a loader raises for a missing or malformed file;
  the message names the file, the problem, the expected layout and the fix (:func:`fail`).
- :func:`read_image` / :func:`read_audio` — a frame as uint8 S×S×3 (bilinear resize, no crop)
  and a clip's audio as mono float32 at 16 kHz (``crop="centre"`` or ``"start"``; a short clip
  is tiled, zero-padded or refused).
- :class:`SkipLog` — what a loader left out and why (a missing clip, an empty box list),
  counted and shown in the chapter, never dropped silently.
- :func:`subsample` — the same sorted subset of a real split every time (smoke scale).
- :func:`fingerprint` — a short content hash of a dataset folder, recorded in the provenance
  and put in the cache keys, so that changed files retrain instead of loading a stale model.
- :meth:`SkipLog.file` — whether an annotation file read is the released one
  (:mod:`avlib.datasets.released`), shown in the skip table. A modified file still loads; it is named.
- :func:`corrupt_coordinate` — the one test for a box coordinate no image can hold (non-finite, or
  further than one image away): such a box is named and counted, never a traceback.
"""
from __future__ import annotations

import hashlib
import math
import os
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np

from .released import released_status

#: files up to this size are hashed whole; larger ones (feature HDF5s) by size + sampled blocks
WHOLE_FILE_BYTES = 32 << 20
SAMPLED_BLOCKS, BLOCK_BYTES = 64, 64 << 10
#: annotation-like files, hashed by content; every other file (frames, audio) by name and size
CONTENT_SUFFIXES = (".json", ".csv", ".xml", ".txt", ".h5", ".hdf5", ".npy", ".npz")


#: a coordinate further than this from the image (in image widths) is corrupt, not a box at the edge
CORRUPT_REACH = 1.0


def corrupt_coordinate(values, extent: float = 1.0) -> str | None:
    """Why a box's coordinates cannot describe an image of size ``extent`` (None: they can).

    Non-finite values (NaN, ±inf) and values further than :data:`CORRUPT_REACH` image sizes outside
    ``0..extent`` (the released VGG-SS's ``-2.88e16``) are corrupt: the loaders drop such a box and
    count it, naming the entry. Coordinates just outside the image are not corrupt (they are cut at the edge).
    """
    try:
        v = [float(x) for x in values]
    except (TypeError, ValueError):
        return "non-numeric coordinate"
    if not all(math.isfinite(x) for x in v):
        return "non-finite coordinate (NaN or infinite)"
    reach = CORRUPT_REACH * extent
    if any(x < -reach or x > extent + reach for x in v):
        return f"coordinate far outside the image (beyond {CORRUPT_REACH:g} image size)"
    return None


def official_slice(start: int, stop: int, size: int) -> tuple[int, int]:
    """The pixels ``[lo, hi)`` that the official ``gt[start:stop] = 1`` fills along an axis of ``size``.

    NumPy slice semantics: a negative index counts from the far edge (``-1`` is ``size - 1``), indices
    past the edge are cut, and a stop before the start fills nothing (``hi == lo``).
    """
    lo, hi, _ = slice(int(start), int(stop)).indices(int(size))
    return lo, max(lo, hi)


class DatasetFormatError(ValueError):
    """A dataset file or folder that does not follow the documented layout."""


def fail(path, problem: str, layout: str = "", fix: str = "see the layout in the loader's docstring",
         error: type = DatasetFormatError):
    """Raise ``error`` (a :class:`DatasetFormatError`) naming the file, the problem, the layout and the fix."""
    where = f" Expected layout: {layout}." if layout else ""
    raise error(f"{path}: {problem}.{where} Fix: {fix}")


def read_json(path, kind: type, shape: str, missing_fix: str, layout: str = "",
              error: type = DatasetFormatError):
    """A released annotation JSON: a non-empty ``kind`` (``dict`` or ``list``), else a clear error.

    ``shape`` describes the expected top level (for the message, e.g. ``"object keyed by
    '<ytid>/<second>'"``); ``missing_fix`` says where the official file comes from.
    """
    import json
    path = Path(path)
    if not path.is_file():
        fail(path, "annotation file not found", layout, missing_fix, error)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        fail(path, f"not valid JSON ({err})", layout, "copy the official file again", error)
    if not isinstance(data, kind) or not data:
        fail(path, f"must be a non-empty JSON {shape}", layout, missing_fix, error)
    return data


def read_image(path, size: int, layout: str = "", error: type = DatasetFormatError) -> np.ndarray:
    """An image file → uint8 (size, size, 3), RGB, bilinear resize without cropping."""
    from PIL import Image, UnidentifiedImageError
    path = Path(path)
    if not path.is_file():
        fail(path, "frame file not found", layout, "extract the frame there", error)
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        fail(path, f"unreadable image ({err})", layout, "re-extract the frame", error)


@lru_cache(maxsize=16)
def _resampler(source_rate: int, target_rate: int):
    """One ``torchaudio`` resampler per pair of rates: its sinc kernel is built once, not per clip
    (``functional.resample`` rebuilds it on every call; same kernel, same output)."""
    import torchaudio
    return torchaudio.transforms.Resample(source_rate, target_rate)


def read_audio(path, sample_rate: int = 16000, seconds: float = 1.0, crop: str = "centre",
               short: str = "tile", layout: str = "", error: type = DatasetFormatError) -> np.ndarray:
    """A sound file → mono float32 at ``sample_rate``, ``seconds`` long.

    ``crop``: which ``seconds`` of a longer clip (``"centre"`` or ``"start"``; with ``"start"``
    only those seconds are read from disk); ``short``: what a shorter clip gets (``"tile"``
    repeats it, as the official LVS test code; ``"pad"`` appends zeros; ``"fail"`` raises).
    Stereo is averaged; other rates are resampled (torchaudio, a cached kernel per rate).
    """
    import soundfile as sf
    if crop not in ("centre", "start") or short not in ("tile", "pad", "fail"):
        raise ValueError(f"crop must be 'centre' or 'start' and short 'tile', 'pad' or 'fail'; got {crop!r}, {short!r}")
    path = Path(path)
    if not path.is_file():
        fail(path, "audio file not found", layout, "extract the clip's audio as WAV there", error)
    try:
        with sf.SoundFile(str(path)) as f:
            sr = f.samplerate
            frames = int(math.ceil(seconds * sr)) if crop == "start" else -1
            wave = f.read(frames=frames, dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as err:
        fail(path, f"unreadable audio ({err})", layout, "re-export it as WAV", error)
    wave = wave.mean(1)
    if len(wave) == 0:
        fail(path, "empty audio", layout, "re-extract the clip's audio", error)
    if sr != sample_rate:
        import torch
        with torch.no_grad():
            wave = _resampler(sr, sample_rate)(torch.from_numpy(np.ascontiguousarray(wave))).numpy()
    n = int(round(sample_rate * seconds))
    if len(wave) < n:
        if short == "fail":
            fail(path, f"shorter than {seconds:g} s ({len(wave)} samples at {sample_rate} Hz)", layout,
                 f"cut clips of at least {seconds:g} s", error)
        wave = np.tile(wave, n // len(wave) + 1) if short == "tile" else np.pad(wave, (0, n - len(wave)))
    start = (len(wave) - n) // 2 if crop == "centre" else 0
    return np.ascontiguousarray(np.clip(wave[start:start + n], -1, 1), dtype=np.float32)


class SkipLog:
    """What a loader left out, by reason: ``log.add("audio file missing", name)``.

    ``len(log)`` items skipped, ``log.counts()`` {reason: count}, ``log.frame()`` a table for the
    chapter, ``str(log)`` one line. Reasons are short phrases; the first few names are kept as examples.
    """

    def __init__(self, what: str = "items"):
        self.what, self._counts, self._examples = what, Counter(), {}
        self.files: dict[str, str] = {}

    def file(self, path, count: int | None = None) -> str:
        """Record whether an annotation file read is the released one (:func:`released_status`)."""
        self.files[Path(path).name] = status = released_status(path, count)
        return status

    def add(self, reason: str, name: str = "") -> None:
        self._counts[reason] += 1
        ex = self._examples.setdefault(reason, [])
        if name and len(ex) < 3:
            ex.append(str(name))

    def __len__(self) -> int:
        return sum(self._counts.values())

    def counts(self) -> dict:
        return dict(self._counts)

    def frame(self, total: int | None = None):
        """A DataFrame: reason, count, examples (and the share of ``total``)."""
        import pandas as pd
        rows = [{"reason": r, "count": c, "examples": ", ".join(self._examples.get(r, []))}
                for r, c in self._counts.items()]
        rows += [{"reason": f"{name}: {status}", "count": 0, "examples": ""} for name, status in self.files.items()]
        df = pd.DataFrame(rows, columns=["reason", "count", "examples"])
        if total:
            df.insert(2, "share", (df["count"] / total).round(4))
        return df

    def __str__(self) -> str:
        files = "".join(f" ({name}: {status})" for name, status in self.files.items())
        if not self:
            return f"no {self.what} skipped{files}"
        return f"{len(self)} {self.what} skipped: " + "; ".join(f"{c} {r}" for r, c in self._counts.items()) + files

    __repr__ = __str__


def subsample(n: int, k: int | None, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``k`` of ``n`` items, the same for the same ``(n, k, seed)``; all when ``k`` is None or ≥ n."""
    if k is None or k >= n:
        return np.arange(n)
    if k <= 0:
        raise ValueError(f"subsample size must be positive, got {k}")
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


def _file_digest(path: Path, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        if size <= WHOLE_FILE_BYTES:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        else:  # sampled: evenly spaced blocks, first and last included
            for k in range(SAMPLED_BLOCKS):
                f.seek((size - BLOCK_BYTES) * k // (SAMPLED_BLOCKS - 1))
                h.update(f.read(BLOCK_BYTES))
    return h.hexdigest()


def fingerprint(root) -> str:
    """A 16-hex-digit fingerprint of a dataset folder: every file under it.

    Annotation, label and feature files (:data:`CONTENT_SUFFIXES`) count by content (whole up
    to 32 MiB; larger ones by their size and 64 evenly spaced 64-KiB blocks); media files
    (frames, audio) by relative path and size. Independent of file times and of where the
    folder lives, so the same files give the same fingerprint on every machine.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetFormatError(f"{root}: not a folder; cannot fingerprint it")
    h = hashlib.sha256()
    for p in sorted(Path(d) / f for d, _, fs in os.walk(root) for f in fs):
        if not p.is_file():   # a broken link or a special file
            continue
        rel, size = p.relative_to(root).as_posix(), p.stat().st_size
        h.update(f"{rel}\0{size}\0".encode())
        if p.suffix.lower() in CONTENT_SUFFIXES:
            h.update(_file_digest(p, size).encode())
    return h.hexdigest()[:16]
