"""``events``: AVE-like videos of T one-second segments (Tian et al. 2018; PSP's data).

A video has one event class. Its sound is audible over a span A and its object visible
over a span V; the *event* is A ∩ V (audible and visible), so unsynchronized videos have
segments where the class is only heard (an off-screen lead-in) or only seen (a silent
object). Other segments hold off-screen sounds of other classes and silent distractor
objects. Labels: per segment the event class or background (index ``num_classes``,
as AVE's 29th class), and a video-level label for the weak setting.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import WorldTask
from .categories import AVE_LIKE
from .scene import jitter, make_background, mix, render_frame, sample_placement


@dataclass(frozen=True)
class EventsConfig:
    classes: tuple = AVE_LIKE
    segments: int = 10
    frames_per_segment: int = 1
    image_size: int = 112
    scale: tuple = (0.14, 0.30)      # object size as a fraction of the image side
    min_event: int = 2               # shortest event, in segments
    p_async: float = 0.7             # chance that a video's audible and visible spans differ
    asynchrony: int = 3              # largest lead/lag of one modality, in segments
    p_offscreen: float = 0.5         # chance of an off-screen sound of another class
    p_silent: float = 0.5            # chance of a silent distractor object of another class
    snr_db: tuple = (-15.0, -3.0)    # background-noise SNR range, drawn per video (calibrated)
    pixel_noise: float = 0.12        # std of Gaussian pixel noise (fraction of 255)
    jitter_px: int = 4               # per-segment random walk of objects
    background: str = "photo"


def _spans(rng, cfg):
    T = cfg.segments
    length = int(rng.integers(cfg.min_event, T + 1))
    s = int(rng.integers(0, T - length + 1))
    e = s + length  # exclusive
    a0, a1, v0, v1 = s, e, s, e
    if rng.uniform() < cfg.p_async:
        for side in (0, 1):
            room = s if side == 0 else T - e
            if room == 0 or rng.uniform() < 0.3:
                continue
            k = int(rng.integers(1, min(cfg.asynchrony, room) + 1))
            lead_audio = rng.uniform() < 0.5
            if side == 0:
                a0, v0 = (s - k, v0) if lead_audio else (a0, s - k)
            else:
                a1, v1 = (e + k, v1) if lead_audio else (a1, e + k)
    audible = np.zeros(T, bool)
    visible = np.zeros(T, bool)
    audible[a0:a1] = True
    visible[v0:v1] = True
    return audible, visible


def _random_span(rng, T):
    a = int(rng.integers(0, T))
    b = int(rng.integers(a + 1, T + 1))
    m = np.zeros(T, bool)
    m[a:b] = True
    return m


class Events(WorldTask):
    """AVE-like event videos; see the module docstring. ``Events(n, seed, **knobs)``."""

    Config = EventsConfig
    name = "events"

    def render(self, i, rng):
        cfg, T, K = self.config, self.config.segments, self.num_classes
        cls = int(rng["plan"].integers(K))
        audible, visible = _spans(rng["plan"], cfg)
        event = audible & visible
        offscreen = []
        if rng["plan"].uniform() < cfg.p_offscreen:
            offscreen.append((self.others(rng["plan"], [cls], 1)[0], _random_span(rng["plan"], T)))
        silent = []
        if rng["distract"].uniform() < cfg.p_silent:
            silent.append((self.others(rng["distract"], [cls], 1)[0], _random_span(rng["distract"], T)))

        # frames
        S, F = cfg.image_size, cfg.frames_per_segment
        main = sample_placement(rng["visual"], self.categories[cls].emoji, S, cfg.scale)
        dis = [sample_placement(rng["distract"], self.categories[c].emoji, S, cfg.scale) for c, _ in silent]
        scene_bg = make_background(rng["visual"], S, cfg.background)
        frames, objects = [], []
        for t in range(T * F):
            seg = t // F
            placed, meta = [], []
            for (c, span), p in zip(silent, dis):
                if span[seg]:
                    placed.append(p)
                    meta.append((c, False))
            if visible[seg]:
                placed.append(main)
                meta.append((cls, bool(audible[seg])))
            frame, boxes = render_frame(rng["visual"], S, placed, scene_bg, cfg.pixel_noise)
            frames.append(frame)
            objects.append([{"class": c, "box": b, "sounding": s} for (c, s), b in zip(meta, boxes)])
            main = jitter(rng["visual"], main, S, cfg.jitter_px)
            dis = [jitter(rng["distract"], p, S, cfg.jitter_px) for p in dis]

        # audio
        segs = []
        for t in range(T):
            clip = np.zeros(16000, np.float32)
            if audible[t]:
                clip += self.sound(cls, rng["audio"])
            for c, span in offscreen:
                if span[t]:
                    clip += self.sound(c, rng["audio"], (0.5, 1.0))
            segs.append(clip)
        snr = float(rng["audio"].uniform(*cfg.snr_db))
        audio = mix(np.concatenate(segs), rng["audio"], snr)

        labels = np.where(event, cls, K).astype(np.int64)
        return {
            "frames": np.stack(frames), "audio": audio, "sample_rate": 16000,
            "segment_labels": labels, "video_label": cls,
            "audible": audible, "visible": visible, "event": event,
            "objects": objects,
            "offscreen": [{"class": c, "segments": np.flatnonzero(s).tolist()} for c, s in offscreen],
            "snr_db": snr,
        }
