"""MUSIC-Synthetic built from MUSIC-solo, for a MUSIC root without the released ``synthetic/`` folder.

DSOL (Hu et al. 2020, Sec. 4.1): "we first randomly choose four 1-second solo audiovisual pairs of
different categories, then mix random two of the four audio clips with jittering as the multi-source
audio waveform, and concatenate four frames of these clips as the multi-source video frame", so that
two instruments sound and two are silent. :class:`BuiltSynthetic` does that, seeded, from a
:class:`~avlib.datasets.music.Music` solo split:

- **category-balanced**: four distinct classes drawn uniformly from the classes the solo split
  holds, then one frame of each, uniformly; two of the four, uniformly, sound;
- **frame**: the four frames, each halved (2×2 block means), tiled 2×2 at the solo image size;
- **audio**: the two sounding clips' seconds, each *jittered* — delayed by a uniform 0–100 ms
  (zeros in front; the paper does not say what its jitter is) — and averaged;
- **boxes** (test, from the solo test frames): each tile's solo boxes mapped into its quadrant;
  sounding tiles are sounding objects, the other two silent objects (``silent_classes``), as the
  world's mosaics. Training mosaics (from the unannotated solo training frames) carry no box, as
  the released ``synthetic/train`` has none.

Mosaic ``k`` depends only on ``(seed, k)``: the same dataset every time. Samples have the structure of
:class:`~avlib.datasets.music.Music`'s (``kind="mosaic"``); ``skipped`` says that the set was built
(under ``entry``, from ``source`` frames). Any solo split with the same interface works: the DSOL
chapter also builds mosaics from AudioSet-instrument's one-box test frames
(:class:`~avlib.datasets.audioset_instrument.AudioSetInstrument`), for which no synthetic set exists.
"""
from __future__ import annotations

import numpy as np

from .io import SkipLog
from .music import Music, MusicFormatError

#: the jitter's largest delay, in samples at 16 kHz (100 ms)
MAX_JITTER = 1600
TILES = ((0, 0), (1, 0), (0, 1), (1, 1))     # (column, row) of the 2×2 grid


class BuiltSynthetic:
    """``n`` seeded 2×2 mosaics from a solo split: ``BuiltSynthetic(Music(root, "solo", "test"), 180)[i]``."""

    name = "music-synthetic-built"

    def __init__(self, solo: Music, n: int, seed: int = 0, source: str = "MUSIC-solo", entry: str = "synthetic/"):
        if solo.subset != "solo":
            raise ValueError(f"mosaics are built from a solo split, got {solo.subset!r}")
        self.solo, self.seed, self.classes, self.image_size = solo, int(seed), solo.classes, solo.image_size
        if self.image_size % 2:
            raise ValueError(f"the 2×2 mosaic needs an even image size, got {self.image_size}")
        self.split = solo.split
        by_class: dict[int, list[int]] = {}
        for i, it in enumerate(solo.items):
            by_class.setdefault(int(it["objects"][0][0]), []).append(i)
        if len(by_class) < 4:
            raise MusicFormatError(f"{solo.root}: MUSIC-Synthetic needs solo frames of at least 4 classes to build "
                                   f"its mosaics; the {solo.split} split has {len(by_class)}. Fix: add solo videos "
                                   "of more instruments, or copy the released synthetic/ folder")
        self._by_class = {c: np.asarray(v) for c, v in sorted(by_class.items())}
        self.n = int(n)
        self.total = self.n
        self.skipped = SkipLog("mosaics")
        self.skipped.files[entry] = (f"absent: {self.n} mosaics built from {len(solo)} {source} {solo.split} "
                                     f"frames (seed {self.seed})")
        self.box_notes = SkipLog("boxes")

    def __len__(self) -> int:
        return self.n

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def recipe(self, k: int) -> tuple[list[int], list[bool], list[int]]:
        """Mosaic ``k``'s solo indices (one per tile), which tiles sound, and each sounding clip's delay."""
        rng = np.random.default_rng([self.seed, int(k)])
        classes = list(self._by_class)
        picked = rng.choice(len(classes), 4, replace=False)
        parts = [int(rng.choice(self._by_class[classes[c]])) for c in picked]
        sounding = [False] * 4
        for t in rng.choice(4, 2, replace=False):
            sounding[int(t)] = True
        delays = [int(d) for d in rng.integers(0, MAX_JITTER, 2)]
        return parts, sounding, delays

    def __getitem__(self, k: int) -> dict:
        if not 0 <= k < self.n:
            raise IndexError(f"mosaic {k} out of range for {self.n}")
        parts, sounding, delays = self.recipe(k)
        S, h = self.image_size, self.image_size // 2
        frame = np.zeros((S, S, 3), np.uint8)
        audio = np.zeros(16000, np.float32)
        objects, heard = [], iter(delays)
        for (col, row), i, snd in zip(TILES, parts, sounding):
            s = self.solo[i]
            tile = s["frame"].reshape(h, 2, h, 2, 3).mean((1, 3))
            frame[row * h:(row + 1) * h, col * h:(col + 1) * h] = np.round(tile).astype(np.uint8)
            if snd:
                d = next(heard)
                audio[d:] += 0.5 * s["audio"][:16000 - d]
            for o in s["objects"]:       # solo test boxes, halved into the quadrant
                x0, y0, x1, y1 = o["box"]
                box = (col * h + x0 // 2, row * h + y0 // 2, col * h + (x1 + 1) // 2, row * h + (y1 + 1) // 2)
                objects.append({"class": o["class"], "box": box, "sounding": snd})
        cls = [int(self.solo.items[i]["objects"][0][0]) for i in parts]
        return {"frame": frame, "audio": audio, "sample_rate": 16000, "kind": "mosaic", "objects": objects,
                "sounding_classes": sorted(c for c, s in zip(cls, sounding) if s),
                "silent_classes": sorted(c for c, s in zip(cls, sounding) if not s), "index": k,
                "key": f"built-{self.split}-{self.seed}-{k:05d}"}

    def __repr__(self):
        return f"BuiltSynthetic({len(self)} mosaics from {self.solo!r}, seed {self.seed})"
