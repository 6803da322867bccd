"""``pretrain``: single-object images and single-source sounds for encoder pretraining.

The papers freeze encoders pretrained on ImageNet and AudioSet; those weights cannot be
fetched here. This split stands in for them: every category, one object per image on a
photo background, one sound per second with noise, a class label for each. It uses the
first half of each sound bank, which no task builder uses, and its own random streams.
"""
from __future__ import annotations

from dataclasses import dataclass

from .base import WorldTask
from .categories import CATEGORIES
from .scene import mix, render_frame, sample_placement


@dataclass(frozen=True)
class PretrainConfig:
    classes: tuple = tuple(c.name for c in CATEGORIES)
    image_size: int = 112
    scale: tuple = (0.2, 0.6)
    snr_db: tuple = (0.0, 20.0)
    pixel_noise: float = 0.04
    background: str = "photo"


class Pretrain(WorldTask):
    """Labelled single-object images and sounds; ``Pretrain(n, seed)[i]`` → frame, audio, label."""

    Config = PretrainConfig
    name = "pretrain"
    sound_variants = slice(0, 8)

    def render(self, i, rng):
        cfg = self.config
        cls = int(rng["plan"].integers(self.num_classes))
        p = sample_placement(rng["visual"], self.categories[cls].emoji, cfg.image_size, cfg.scale)
        frame, (box,) = render_frame(rng["visual"], cfg.image_size, [p], cfg.background, cfg.pixel_noise)
        audio = mix(self.sound(cls, rng["audio"]), rng["audio"], float(rng["audio"].uniform(*cfg.snr_db)))
        return {"frame": frame, "audio": audio, "sample_rate": 16000, "label": cls,
                "objects": [{"class": cls, "box": box, "sounding": True}]}
