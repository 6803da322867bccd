"""Class-agnostic proposals for Parekh et al. (2018), Sec. 3.1: image regions and audio segments.

Visual proposals. The paper runs EdgeBoxes (Zitnick & Dollár, 2014; MATLAB code, default
settings) on frames sub-sampled at 1 fps and keeps the top ``M_img`` boxes per frame by
their objectness score. That code (and its structured-edge model file) is not available
offline, so :func:`edge_box_proposals` is a documented stand-in in EdgeBoxes' spirit:

1. an edge-magnitude map per frame: Gaussian smoothing (σ = 1 px) then the Sobel gradient
   magnitude, the maximum over the three colour channels;
2. a fixed multi-scale window grid (sizes × aspect ratios, a stride of a quarter of the
   window's short side), summed in O(1) per window with integral images;
3. an EdgeBoxes-like objectness: edges inside the box minus edges in the box's central
   half (EdgeBoxes' ``h_in``: an object's contour lies near its box's border) minus edges
   in a thin band straddling the border outside (contours that cross the box, which
   EdgeBoxes removes by edge-group affinity), divided by the perimeter to the power κ;
4. greedy non-maximum suppression at IoU ``nms_iou`` (EdgeBoxes' β = 0.65 is about
   this), then the top ``m_img`` boxes.

:func:`proposal_recall` measures it against the world's exact boxes.

Audio proposals. A log-mel spectrogram (25 ms window, 10 ms hop, 64 bands) over the
whole clip, cut into 960 ms windows (96 frames) with a 480 ms stride:
:func:`audio_windows`. A 10 s clip gives 20 windows; the last one runs 80 ms past the
end of the clip, padded with silence (as the paper's "20 segments for 10 s" requires).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .audio import SAMPLE_RATE

WINDOW_S, STRIDE_S, HOP_S = 0.96, 0.48, 0.01


# --------------------------------------------------------------------------- audio
def num_audio_windows(duration_s: float, window_s: float = WINDOW_S, stride_s: float = STRIDE_S) -> int:
    """Number of audio proposals for a clip: ``ceil((duration − window) / stride) + 1`` (20 for 10 s)."""
    if duration_s <= 0:
        raise ValueError(f"duration must be positive, got {duration_s}")
    return max(1, math.ceil(round((duration_s - window_s) / stride_s, 6)) + 1)


def audio_window_times(duration_s: float, window_s: float = WINDOW_S, stride_s: float = STRIDE_S) -> np.ndarray:
    """(T, 2) start and end times in seconds of the audio proposals of a clip."""
    n = num_audio_windows(duration_s, window_s, stride_s)
    starts = np.arange(n) * stride_s
    return np.stack([starts, starts + window_s], 1)


def audio_windows(wave, sample_rate: int = SAMPLE_RATE, window_s: float = WINDOW_S,
                  stride_s: float = STRIDE_S) -> torch.Tensor:
    """Normalised log-mel proposals of a clip: (T, 1, 64, 96) for 960 ms windows, 480 ms stride.

    The log-mel is computed once over the (silence-padded) clip, as in the paper, then cut
    along time; the result is what :class:`avlib.models.encoders.AudioEncoder` embeds.
    """
    from .models.encoders import AudioEncoder
    wave = torch.as_tensor(np.asarray(wave, dtype=np.float32))
    if wave.dim() != 1:
        raise ValueError(f"audio_windows expects a mono waveform (samples,), got shape {tuple(wave.shape)}")
    duration = len(wave) / sample_rate
    n = num_audio_windows(duration, window_s, stride_s)
    win, hop = int(round(window_s / HOP_S)), int(round(stride_s / HOP_S))
    needed = int(round(((n - 1) * stride_s + window_s) * sample_rate))
    if len(wave) < needed:
        wave = torch.nn.functional.pad(wave, (0, needed - len(wave)))
    spec = AudioEncoder.spectrogram(wave)            # (1, 64, frames)
    return spec.unfold(-1, win, hop)[..., :n, :].permute(2, 0, 1, 3).contiguous()  # (T, 1, 64, win)


def window_truth(audio_on: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Per-window truth from per-second truth (T_s, C): a class is on in a window when it is
    audible in the second that holds the window's centre."""
    centre = np.clip(((times[:, 0] + times[:, 1]) / 2).astype(int), 0, len(audio_on) - 1)
    return audio_on[centre]


# --------------------------------------------------------------------------- visual
def window_grid(image_size: int, sizes=(20, 26, 32, 40, 48, 58, 70, 84), ratios=(0.6, 0.8, 1.0, 1.25, 1.6),
                stride_frac: float = 0.25) -> np.ndarray:
    """All candidate boxes (K, 4) ``x0, y0, x1, y1`` (exclusive ends) of a multi-scale grid."""
    boxes = []
    for s in sizes:
        for r in ratios:  # r = width / height, area ≈ s²
            w = int(round(s * math.sqrt(r)))
            h = int(round(s / math.sqrt(r)))
            if w > image_size or h > image_size:
                continue
            step = max(2, int(round(min(w, h) * stride_frac)))
            xs = np.unique(np.r_[np.arange(0, image_size - w + 1, step), image_size - w])
            ys = np.unique(np.r_[np.arange(0, image_size - h + 1, step), image_size - h])
            gx, gy = np.meshgrid(xs, ys)
            boxes.append(np.stack([gx.ravel(), gy.ravel(), gx.ravel() + w, gy.ravel() + h], 1))
    return np.concatenate(boxes).astype(np.int64)


def edge_map(frames: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Edge magnitude (N, H, W) of uint8 frames (N, H, W, 3): Gaussian σ, Sobel, max over colours."""
    x = torch.as_tensor(np.asarray(frames)).float().div_(255.0).permute(0, 3, 1, 2)  # (N, 3, H, W)
    r = max(1, int(math.ceil(3 * sigma)))
    g = torch.exp(-torch.arange(-r, r + 1, dtype=torch.float32) ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    pad = torch.nn.functional.pad
    x = pad(x, (r, r, r, r), mode="replicate")
    x = torch.nn.functional.conv2d(x, g.view(1, 1, 1, -1).repeat(3, 1, 1, 1), groups=3)
    x = torch.nn.functional.conv2d(x, g.view(1, 1, -1, 1).repeat(3, 1, 1, 1), groups=3)
    sob = torch.tensor([[-1., 0., 1.], [-2., 0., 2.], [-1., 0., 1.]])
    k = torch.stack([sob, sob.T]).unsqueeze(1).repeat(3, 1, 1, 1)  # (6, 1, 3, 3): gx, gy per colour
    grad = torch.nn.functional.conv2d(pad(x, (1, 1, 1, 1), mode="replicate"), k, groups=3)
    mag = grad.view(len(x), 3, 2, *grad.shape[-2:]).pow(2).sum(2).sqrt().amax(1)
    return mag.numpy()


def _box_sums(integral: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Sums of a map over boxes via its integral image (N, H+1, W+1) → (N, K)."""
    x0, y0, x1, y1 = boxes.T
    return integral[:, y1, x1] - integral[:, y0, x1] - integral[:, y1, x0] + integral[:, y0, x0]


def _shrink(boxes, frac):
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    dx, dy = np.round(w * frac).astype(int), np.round(h * frac).astype(int)
    return np.stack([boxes[:, 0] + dx, boxes[:, 1] + dy, boxes[:, 2] - dx, boxes[:, 3] - dy], 1)


def _grow(boxes, px, size):
    return np.stack([np.maximum(boxes[:, 0] - px, 0), np.maximum(boxes[:, 1] - px, 0),
                     np.minimum(boxes[:, 2] + px, size), np.minimum(boxes[:, 3] + px, size)], 1)


def objectness(frames: np.ndarray, boxes: np.ndarray, kappa: float = 2.0, inner: float = 0.25,
               band: int = 4, sigma: float = 1.0) -> np.ndarray:
    """EdgeBoxes-style score (N, K) of every box in every frame (see the module docstring)."""
    E = edge_map(frames, sigma)
    N, H, W = E.shape
    ii = np.zeros((N, H + 1, W + 1), np.float32)
    ii[:, 1:, 1:] = E.cumsum(1).cumsum(2)
    inside = _box_sums(ii, boxes)
    centre = _box_sums(ii, _shrink(boxes, inner))
    grown = _grow(boxes, band, W)
    ring = _box_sums(ii, grown) - inside
    ring_area = np.maximum((grown[:, 2] - grown[:, 0]) * (grown[:, 3] - grown[:, 1])
                           - (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1)
    perim = 2.0 * ((boxes[:, 2] - boxes[:, 0]) + (boxes[:, 3] - boxes[:, 1]))
    # edges crossing the border: the band's edge density times the band's inner length
    crossing = ring / ring_area * perim * band
    return (inside - centre - crossing) / perim ** kappa


def _nms_top(boxes: torch.Tensor, scores: torch.Tensor, iou: float, k: int) -> torch.Tensor:
    from torchvision.ops import nms
    keep = nms(boxes, scores, iou)
    return keep[:k]


def edge_box_proposals(frames: np.ndarray, m_img: int = 10, nms_iou: float = 0.65, pre_nms: int = 400,
                       grid: np.ndarray | None = None, **score_kw) -> tuple[np.ndarray, np.ndarray]:
    """Top ``m_img`` class-agnostic boxes per frame, the offline stand-in for EdgeBoxes.

    ``frames`` (N, H, W, 3) uint8 → ``boxes`` (N, m_img, 4) float32 pixel ``x0, y0, x1, y1``
    (exclusive ends) and ``scores`` (N, m_img), best first. Should NMS leave fewer than
    ``m_img`` boxes, the list is filled with the best suppressed ones, so every frame has
    exactly ``m_img`` proposals.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames (N, H, W, 3), got {frames.dtype} {frames.shape}")
    size = frames.shape[1]
    grid = window_grid(size) if grid is None else grid
    scores = objectness(frames, grid, **score_kw)
    tgrid = torch.from_numpy(grid).float()
    out_b = np.zeros((len(frames), m_img, 4), np.float32)
    out_s = np.zeros((len(frames), m_img), np.float32)
    pre_nms = min(pre_nms, scores.shape[1])
    top = np.argpartition(-scores, pre_nms - 1, axis=1)[:, :pre_nms]
    order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, 1)
    for n in range(len(frames)):
        cand = torch.from_numpy(top[n])
        sc = torch.from_numpy(scores[n, top[n]]).float()
        keep = _nms_top(tgrid[cand], sc, nms_iou, m_img)
        if len(keep) < m_img:
            rest = [i for i in range(len(cand)) if i not in set(keep.tolist())]
            keep = torch.cat([keep, torch.tensor(rest[:m_img - len(keep)], dtype=keep.dtype)])
        out_b[n] = grid[top[n][keep.numpy()]]
        out_s[n] = scores[n, top[n][keep.numpy()]]
    return out_b, out_s


def box_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU (len(a), len(b)) of two sets of ``x0, y0, x1, y1`` boxes."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def proposal_recall(proposals: np.ndarray, objects, iou: float = 0.5) -> float:
    """Fraction of true boxes (``objects[n]``: a list of ``{"box": ...}`` per frame) matched by a
    proposal of the same frame at IoU ≥ ``iou``."""
    hit = total = 0
    for props, objs in zip(proposals, objects):
        if not objs:
            continue
        m = box_iou_matrix(np.array([o["box"] for o in objs]), props).max(1)
        hit += int((m >= iou).sum())
        total += len(objs)
    return hit / total if total else float("nan")
