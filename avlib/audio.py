"""Audio features and image transforms shared by every chapter.

Log-mel spectrograms go through torchaudio (``MelSpectrogram`` then ``AmplitudeToDB``),
as in the papers' pipelines (DSOL: 64 mel bands in dB; Parekh et al.: 25 ms windows,
10 ms hop). Images are ``uint8`` H×W×3 arrays in the world and float tensors
normalised to roughly zero mean, unit variance in the models.
"""
from __future__ import annotations

import copy
import functools
from contextlib import nullcontext

import numpy as np
import torch
import torchaudio

SAMPLE_RATE = 16_000


@functools.lru_cache(maxsize=8)
def _mel_transform_cpu(sample_rate: int, n_fft: int, hop: int, n_mels: int):
    return torch.nn.Sequential(
        torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate, n_fft=n_fft, win_length=n_fft, hop_length=hop,
            n_mels=n_mels, power=2.0, center=True),
        torchaudio.transforms.AmplitudeToDB(stype="power", top_db=80.0),
    )


@functools.lru_cache(maxsize=16)
def _mel_transform(sample_rate: int, n_fft: int, hop: int, n_mels: int, device: torch.device):
    """The transform with its window and filterbank on ``device`` (one cached copy per device).

    The copy is built on the CPU and moved, so every device uses the same float32 buffers
    (the CPU transform, and so CPU results, are unchanged).
    """
    cpu = _mel_transform_cpu(sample_rate, n_fft, hop, n_mels)
    return cpu if device.type == "cpu" else copy.deepcopy(cpu).to(device)


def log_mel(wave, sample_rate: int = SAMPLE_RATE, win_ms: float = 25.0, hop_ms: float = 10.0,
            n_mels: int = 64) -> torch.Tensor:
    """Log-mel spectrogram in dB of a waveform (…, samples) → (…, n_mels, frames).

    A 25 ms window and a 10 ms hop by default (Parekh et al., Sec. 3.1); frames =
    samples // hop + 1 (centred STFT). Values are dB relative to power 1, floored 80 dB
    below the peak. torchaudio's ``AmplitudeToDB`` takes that peak over the last three dims
    of the spectrogram: for one waveform it is its own peak, for a batch ``(B, samples)``
    the peak of the whole batch (not of each spectrogram), for ``(B, C, samples)`` each
    item's peak over its C channels.

    The result is float32 on the waveform's device (any float dtype is computed in float32;
    the cached transform is moved to the waveform's device, so CUDA input stays on CUDA).
    """
    wave = torch.as_tensor(np.asarray(wave, dtype=np.float32) if not torch.is_tensor(wave) else wave)
    if wave.dtype != torch.float32:
        wave = wave.float()
    if wave.shape[-1] < 2:
        raise ValueError(f"log_mel needs a waveform with at least 2 samples, got shape {tuple(wave.shape)}")
    n_fft = int(round(sample_rate * win_ms / 1000))
    hop = int(round(sample_rate * hop_ms / 1000))
    device = wave.device   # a tensor's CUDA device carries its index: one cache entry per physical device
    # the STFT and the dB floor run in float32 even inside torch.autocast
    with torch.autocast(device.type, enabled=False) if device.type in ("cuda", "cpu") else nullcontext():
        return _mel_transform(sample_rate, n_fft, hop, n_mels, device)(wave)


def normalise_log_mel(spec: torch.Tensor) -> torch.Tensor:
    """Map dB values (about −100…0 dB) to roughly zero mean, unit variance."""
    return (spec + 50.0) / 20.0


IMAGE_MEAN = np.array([0.45, 0.45, 0.45], dtype=np.float32)
IMAGE_STD = np.array([0.25, 0.25, 0.25], dtype=np.float32)


def image_to_tensor(images) -> torch.Tensor:
    """``uint8`` images (…, H, W, 3) → float tensor (…, 3, H, W), normalised.

    A tensor input stays on its device (the result is on the same device).
    """
    x = images if torch.is_tensor(images) else torch.as_tensor(np.asarray(images))
    if x.dtype != torch.uint8 or x.shape[-1] != 3:
        raise ValueError(f"expected uint8 images shaped (..., H, W, 3), got {x.dtype} {tuple(x.shape)}")
    x = x.float().div_(255.0)
    x = (x - torch.from_numpy(IMAGE_MEAN).to(x.device)) / torch.from_numpy(IMAGE_STD).to(x.device)
    return x.movedim(-1, -3).contiguous()


def tensor_to_image(x: torch.Tensor) -> np.ndarray:
    """Inverse of :func:`image_to_tensor` for display: (…, 3, H, W) → uint8 (…, H, W, 3)."""
    x = x.detach().cpu().movedim(-3, -1).numpy() * IMAGE_STD + IMAGE_MEAN
    return (np.clip(x, 0, 1) * 255).round().astype(np.uint8)
