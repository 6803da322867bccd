"""``cocktail``: instrument scenes for class-aware sounding-object localization (DSOL).

Three kinds, as in MUSIC and MUSIC-Synthetic (Hu et al. 2020):

- ``solo``: one instrument, seen and heard;
- ``duet``: two instruments of different classes, both seen and heard;
- ``mosaic``: a grid of single-instrument tiles (2×2 by default) where ``n_sounding``
  tiles are heard and ``n_silent`` are only seen.

Every object carries its class, box and a ``sounding`` flag.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .base import WorldTask
from .categories import INSTRUMENTS
from .scene import Placement, mix, opaque_box, render_frame, sample_placement

KINDS = ("solo", "duet", "mosaic")


@dataclass(frozen=True)
class CocktailConfig:
    kind: str = "solo"
    classes: tuple = INSTRUMENTS
    image_size: int = 112
    scale: tuple = (0.35, 0.6)       # solo/duet object size; mosaic tiles use 0.6–0.85 of a tile
    n_sounding: int = 2              # mosaic only
    n_silent: int = 2                # mosaic only
    snr_db: tuple = (5.0, 15.0)
    pixel_noise: float = 0.03
    background: str = "photo"


class Cocktail(WorldTask):
    """Solo, duet or mosaic instrument scenes; ``Cocktail(n, seed, kind="mosaic", **knobs)``."""

    Config = CocktailConfig
    name = "cocktail"

    def __init__(self, n, seed=0, config=None, **knobs):
        super().__init__(n, seed, config, **knobs)
        if self.config.kind not in KINDS:
            raise ValueError(f"unknown cocktail kind {self.config.kind!r}; valid: {KINDS}")
        need = {"solo": 1, "duet": 2, "mosaic": self.config.n_sounding + self.config.n_silent}[self.config.kind]
        if need > self.num_classes:
            raise ValueError(f"a {self.config.kind} scene needs {need} distinct classes, only {self.num_classes} given")

    def render(self, i, rng):
        cfg, S = self.config, self.config.image_size
        if cfg.kind == "mosaic":
            return self._mosaic(rng)
        k = 1 if cfg.kind == "solo" else 2
        classes = [int(c) for c in rng["plan"].choice(self.num_classes, k, replace=False)]
        placed, boxes = [], []
        for c in classes:
            p = sample_placement(rng["visual"], self.categories[c].emoji, S, cfg.scale, avoid=boxes, max_overlap=0.05)
            placed.append(p)
            boxes.append(opaque_box(p.emoji, p.size, p.x, p.y, p.flip))
        frame, boxes = render_frame(rng["visual"], S, placed, cfg.background, cfg.pixel_noise)
        clean = sum(self.sound(c, rng["audio"]) for c in classes)
        audio = mix(clean, rng["audio"], float(rng["audio"].uniform(*cfg.snr_db)))
        objects = [{"class": c, "box": b, "sounding": True} for c, b in zip(classes, boxes)]
        return {"frame": frame, "audio": audio, "sample_rate": 16000, "kind": cfg.kind,
                "objects": objects, "sounding_classes": sorted(classes), "silent_classes": []}

    def _mosaic(self, rng):
        cfg, S = self.config, self.config.image_size
        cells = cfg.n_sounding + cfg.n_silent
        g = math.ceil(math.sqrt(cells))
        tile = S // g
        classes = [int(c) for c in rng["plan"].choice(self.num_classes, cells, replace=False)]
        sounding = set(classes[:cfg.n_sounding])
        slots = rng["plan"].permutation(g * g)[:cells]
        canvas_parts = np.zeros((S, S, 3), np.uint8)
        objects = []
        for c, slot in zip(classes, slots):
            r, q = divmod(int(slot), g)
            size = int(tile * rng["visual"].uniform(0.6, 0.85))
            x, y = (int(v) for v in rng["visual"].integers(0, tile - size + 1, 2))
            p = Placement(self.categories[c].emoji, size, x, y, bool(rng["visual"].integers(2)))
            sub, (box,) = render_frame(rng["visual"], tile, [p], cfg.background, cfg.pixel_noise)
            canvas_parts[r * tile:(r + 1) * tile, q * tile:(q + 1) * tile] = sub
            bx = (box[0] + q * tile, box[1] + r * tile, box[2] + q * tile, box[3] + r * tile)
            objects.append({"class": c, "box": bx, "sounding": c in sounding})
        clean = sum(self.sound(c, rng["audio"]) for c in classes[:cfg.n_sounding])
        audio = mix(clean, rng["audio"], float(rng["audio"].uniform(*cfg.snr_db)))
        return {"frame": canvas_parts, "audio": audio, "sample_rate": 16000, "kind": "mosaic",
                "objects": objects, "sounding_classes": sorted(sounding),
                "silent_classes": sorted(set(classes) - sounding)}
