"""Scene composition: paste icons on backgrounds with exact boxes, mix sounds at an SNR.

Boxes are ``(x0, y0, x1, y1)`` in pixels with exclusive ends, the tight box of the
icon's drawn pixels (alpha > 0), so that a box always covers what was drawn.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .assets import SAMPLE_RATE, icon_at, random_background
from .sounds import TARGET_RMS

ALPHA_OPAQUE = 1  # every pixel the icon touches counts: a box covers all that was drawn


@dataclass
class Placement:
    """An icon to draw: emoji, size in px, top-left corner, mirrored or not."""
    emoji: str
    size: int
    x: int
    y: int
    flip: bool = False


def opaque_box(emoji: str, size: int, x: int, y: int, flip: bool = False) -> tuple[int, int, int, int]:
    """Tight box of the opaque pixels of an icon drawn at (x, y)."""
    alpha = icon_at(emoji, size, flip)[..., 3] >= ALPHA_OPAQUE
    rows, cols = np.flatnonzero(alpha.any(1)), np.flatnonzero(alpha.any(0))
    return (x + int(cols[0]), y + int(rows[0]), x + int(cols[-1]) + 1, y + int(rows[-1]) + 1)


def paste(canvas: np.ndarray, p: Placement, brightness: float = 1.0) -> tuple[int, int, int, int]:
    """Alpha-blend an icon into a float canvas (H, W, 3) in place; return its opaque box.

    The icon must lie inside the canvas (placements are sampled that way).
    """
    icon = icon_at(p.emoji, p.size, p.flip).astype(np.float32)
    h, w = canvas.shape[:2]
    if p.x < 0 or p.y < 0 or p.x + p.size > w or p.y + p.size > h:
        raise ValueError(f"icon at ({p.x}, {p.y}) size {p.size} does not fit a {w}x{h} canvas")
    a = icon[..., 3:4] / 255.0
    region = canvas[p.y:p.y + p.size, p.x:p.x + p.size]
    region *= (1 - a)
    region += a * icon[..., :3] * brightness
    return opaque_box(p.emoji, p.size, p.x, p.y, p.flip)


def render_frame(rng: np.random.Generator, size: int, placements, background: str = "photo",
                 pixel_noise: float = 0.0, brightness: float = 1.0):
    """Draw placements (back to front) on a background; return uint8 frame and their boxes.

    ``background`` is ``"photo"`` (a random crop, new each call), ``"plain"`` (grey) or a
    float (size, size, 3) array from :func:`make_background`, for a video's fixed scene.
    """
    if isinstance(background, np.ndarray):
        canvas = background.astype(np.float32, copy=True)
    elif background == "photo":
        canvas = random_background(rng, size)
    elif background == "plain":
        canvas = np.full((size, size, 3), 127.0, np.float32)
    else:
        raise ValueError(f"unknown background {background!r}; use 'photo' or 'plain'")
    boxes = [paste(canvas, p, brightness) for p in placements]
    if pixel_noise > 0:
        canvas += rng.normal(0, pixel_noise * 255, canvas.shape).astype(np.float32)
    return np.clip(canvas, 0, 255).round().astype(np.uint8), boxes


def make_background(rng: np.random.Generator, size: int, kind: str = "photo"):
    """A fixed background for all frames of a video: a photo crop array, or ``"plain"``."""
    if kind == "photo":
        return random_background(rng, size)
    if kind == "plain":
        return kind
    raise ValueError(f"unknown background {kind!r}; use 'photo' or 'plain'")


def sample_placement(rng, emoji, image_size, scale_range, avoid=(), max_overlap=0.15, tries=20):
    """A random placement inside the image whose box overlaps earlier boxes by at most ``max_overlap`` IoU."""
    for attempt in range(tries):
        size = max(8, int(round(image_size * rng.uniform(*scale_range))))
        x, y = (int(v) for v in rng.integers(0, image_size - size + 1, 2))
        flip = bool(rng.integers(2))
        box = opaque_box(emoji, size, x, y, flip)
        if all(box_iou(box, b) <= max_overlap for b in avoid) or attempt == tries - 1:
            return Placement(emoji, size, x, y, flip)


def jitter(rng, p: Placement, image_size: int, step: int) -> Placement:
    """The same object moved by up to ``step`` px (a random walk over time), kept inside."""
    x = int(np.clip(p.x + rng.integers(-step, step + 1), 0, image_size - p.size))
    y = int(np.clip(p.y + rng.integers(-step, step + 1), 0, image_size - p.size))
    return Placement(p.emoji, p.size, x, y, p.flip)


def box_iou(a, b) -> float:
    """IoU of two (x0, y0, x1, y1) boxes."""
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def background_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Pinkish noise (white plus low-passed white) at RMS 1."""
    from scipy.signal import lfilter
    white = rng.standard_normal(n)
    noise = 0.5 * white + lfilter([0.05], [1, -0.95], rng.standard_normal(n)) * 3
    return (noise / np.sqrt(np.mean(noise ** 2))).astype(np.float32)


def mix(clean: np.ndarray, rng: np.random.Generator, snr_db: float) -> np.ndarray:
    """Add background noise to a clean mixture at ``snr_db`` relative to the sources' RMS.

    The reference level is the nominal source RMS (0.1), so silent stretches get the
    same noise floor as sounding ones: SNR = 20 log10(0.1 / noise RMS).
    """
    noise_rms = TARGET_RMS * 10 ** (-snr_db / 20)
    return np.clip(clean + noise_rms * background_noise(rng, len(clean)), -1, 1).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(round(seconds * SAMPLE_RATE)), np.float32)
