"""``weak_multilabel``: 10 s clips with several classes and clip-level labels only.

Modelled on DCASE 2017 task 4 as Parekh et al. (2018) use it: vehicle and warning-sound
classes, a skewed class distribution, and audio and visual cues at different times.
Each labelled class is heard over an audio span; its object is seen over a visual span
that may be shifted from the audio one (unsynchronized) or missing altogether (the
paper's "extreme lighting" case). Silent distractor objects of unlabelled classes can
be seen too. Labels come from the audio, as in DCASE; exact per-second audio truth and
per-frame boxes are kept for evaluation only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import WorldTask
from .categories import DCASE_LIKE
from .scene import jitter, make_background, mix, render_frame, sample_placement


@dataclass(frozen=True)
class MultilabelConfig:
    classes: tuple = DCASE_LIKE
    seconds: int = 10
    image_size: int = 112
    scale: tuple = (0.22, 0.42)
    labels_per_clip: tuple = (1, 3)  # inclusive range
    skew: float = 1.0                # class frequency ∝ 1 / (rank + 1) ** skew (0 = uniform)
    max_shift: int = 4               # largest offset of the visual span from the audio span (s)
    p_visual_missing: float = 0.15   # chance that a labelled class is never seen
    p_silent: float = 0.3            # chance of a silent distractor object
    snr_db: tuple = (0.0, 10.0)
    pixel_noise: float = 0.05
    jitter_px: int = 4
    background: str = "photo"


def class_weights(num_classes: int, skew: float) -> np.ndarray:
    w = 1.0 / (np.arange(num_classes) + 1.0) ** skew
    return w / w.sum()


class WeakMultilabel(WorldTask):
    """Weakly labelled multi-label clips; ``WeakMultilabel(n, seed, **knobs)``."""

    Config = MultilabelConfig
    name = "weak_multilabel"

    def render(self, i, rng):
        cfg, T, K, S = self.config, self.config.seconds, self.num_classes, self.config.image_size
        plan = rng["plan"]
        k = int(plan.integers(cfg.labels_per_clip[0], cfg.labels_per_clip[1] + 1))
        classes = [int(c) for c in plan.choice(K, size=min(k, K), replace=False, p=class_weights(K, cfg.skew))]
        audio_on = np.zeros((T, K), bool)
        visual_on = np.zeros((T, K), bool)
        for c in classes:
            length = int(plan.integers(2, T + 1))
            a = int(plan.integers(0, T - length + 1))
            audio_on[a:a + length, c] = True
            if plan.uniform() >= cfg.p_visual_missing:
                shift = int(plan.integers(-cfg.max_shift, cfg.max_shift + 1))
                vlen = int(plan.integers(2, T + 1))
                v = int(np.clip(a + shift, 0, T - vlen))
                visual_on[v:v + vlen, c] = True
        silent = []
        if rng["distract"].uniform() < cfg.p_silent:
            c = self.others(rng["distract"], classes, 1)[0]
            length = int(rng["distract"].integers(2, T + 1))
            v = int(rng["distract"].integers(0, T - length + 1))
            visual_on[v:v + length, c] = True
            silent.append(c)

        shown = [c for c in range(K) if visual_on[:, c].any()]
        stream = {c: (rng["distract"] if c in silent else rng["visual"]) for c in shown}
        places, boxes_so_far = {}, []
        for c in shown:
            places[c] = sample_placement(stream[c], self.categories[c].emoji, S, cfg.scale, avoid=boxes_so_far)
        scene_bg = make_background(rng["visual"], S, cfg.background)
        frames, objects = [], []
        for t in range(T):
            now = [c for c in shown if visual_on[t, c]]
            frame, boxes = render_frame(rng["visual"], S, [places[c] for c in now], scene_bg, cfg.pixel_noise)
            frames.append(frame)
            objects.append([{"class": c, "box": b, "sounding": bool(audio_on[t, c])} for c, b in zip(now, boxes)])
            places = {c: jitter(stream[c], p, S, cfg.jitter_px) for c, p in places.items()}

        segs = []
        for t in range(T):
            clip = np.zeros(16000, np.float32)
            for c in classes:
                if audio_on[t, c]:
                    clip += self.sound(c, rng["audio"], (0.6, 1.2))
            segs.append(clip)
        audio = mix(np.concatenate(segs), rng["audio"], float(rng["audio"].uniform(*cfg.snr_db)))
        labels = np.zeros(K, np.float32)
        labels[classes] = 1
        return {"frames": np.stack(frames), "audio": audio, "sample_rate": 16000,
                "labels": labels, "audio_on": audio_on, "visual_on": visual_on,
                "objects": objects, "silent_classes": silent}
