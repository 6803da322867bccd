"""``single_source``: one frame + one second of audio (Flickr-SoundNet / VGG-SS style).

The sounding object shares the image with silent objects of other classes: the hard
negatives of LVS (Chen et al. 2021). Several simulated annotators draw a box each
around the source (jittered copies of the exact box), as in Flickr-SoundNet's test set.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import WorldTask
from .categories import CATEGORIES
from .scene import mix, render_frame, sample_placement


@dataclass(frozen=True)
class SingleSourceConfig:
    classes: tuple = tuple(c.name for c in CATEGORIES)
    image_size: int = 112
    scale: tuple = (0.25, 0.45)
    distractors: tuple = (0, 2)      # silent objects per image, inclusive range
    p_offscreen: float = 0.0         # chance of an extra off-screen sound
    snr_db: tuple = (0.0, 10.0)
    pixel_noise: float = 0.04
    annotators: int = 3
    annotator_jitter: float = 0.08   # box jitter as a fraction of the box side
    background: str = "photo"


class SingleSource(WorldTask):
    """One sounding object among silent ones; ``SingleSource(n, seed, **knobs)``."""

    Config = SingleSourceConfig
    name = "single_source"

    def render(self, i, rng):
        cfg, S = self.config, self.config.image_size
        cls = int(rng["plan"].integers(self.num_classes))
        n_dis = int(rng["distract"].integers(cfg.distractors[0], cfg.distractors[1] + 1))
        silent = self.others(rng["distract"], [cls], n_dis)
        source = sample_placement(rng["visual"], self.categories[cls].emoji, S, cfg.scale)
        placed, boxes_so_far = [], []
        from .scene import opaque_box
        boxes_so_far.append(opaque_box(source.emoji, source.size, source.x, source.y, source.flip))
        for c in silent:
            p = sample_placement(rng["distract"], self.categories[c].emoji, S, cfg.scale, avoid=boxes_so_far)
            placed.append(p)
            boxes_so_far.append(opaque_box(p.emoji, p.size, p.x, p.y, p.flip))
        frame, boxes = render_frame(rng["visual"], S, placed + [source], cfg.background, cfg.pixel_noise)
        objects = [{"class": c, "box": b, "sounding": False} for c, b in zip(silent, boxes[:-1])]
        objects.append({"class": cls, "box": boxes[-1], "sounding": True})

        clean = self.sound(cls, rng["audio"])
        off = None
        if rng["plan"].uniform() < cfg.p_offscreen:
            off = self.others(rng["plan"], [cls] + silent, 1)[0]
            clean = clean + self.sound(off, rng["audio"], (0.4, 0.8))
        audio = mix(clean, rng["audio"], float(rng["audio"].uniform(*cfg.snr_db)))

        x0, y0, x1, y1 = boxes[-1]
        w, h = x1 - x0, y1 - y0
        ann = []
        for _ in range(cfg.annotators):
            d = rng["plan"].normal(0, cfg.annotator_jitter, 4) * np.array([w, h, w, h])
            a = np.clip(np.round(np.array([x0, y0, x1, y1]) + d), 0, S).astype(int)
            if a[2] <= a[0] or a[3] <= a[1]:
                a = np.array([x0, y0, x1, y1])
            ann.append(tuple(int(v) for v in a))
        return {"frame": frame, "audio": audio, "sample_rate": 16000, "label": cls,
                "box": boxes[-1], "annotator_boxes": ann, "objects": objects,
                "offscreen_class": off}
