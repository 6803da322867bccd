"""World-pretrained encoders and frozen-feature extraction in the papers' shapes.

:func:`pretrained_encoders` trains (or loads from the cache) a visual and an audio
encoder by supervised classification on the world's ``pretrain`` split, the stand-in for
ImageNet / AudioSet pretraining. :func:`events_features` turns ``events`` videos into
AVE-shaped arrays: visual ``(N, T, 7, 7, C)`` and audio ``(N, T, 128)``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .audio import image_to_tensor
from .models.encoders import AudioEncoder, Classifier, VisualEncoder
from .repro import SHARED_THREADS, pick, resolve_device, torch_threads
from .sources import dependencies
from .train import DEFAULT_CACHE, atomic_save, batches, config_key, fit, train_or_load
from .world import Pretrain

#: the avlib files this module imports, transitively: the cache key of the encoders
ENCODER_MODULES = dependencies(__name__)


def render_arrays(task, keys=("frame", "audio", "label"), indices=None, desc=None) -> dict:
    """Render samples of a world task and stack the given keys into arrays."""
    indices = range(len(task)) if indices is None else indices
    out = {k: [] for k in keys}
    for i in tqdm(indices, desc=desc or f"render {task.name}", leave=False, disable=desc is False):
        s = task[i]
        for k in keys:
            out[k].append(s[k])
    return {k: np.stack(v) for k, v in out.items()}


@dataclass
class Encoders:
    visual: VisualEncoder
    audio: AudioEncoder
    results: dict
    key: str


def _pretrain_config(scale: str, seed: int) -> dict:
    return {"n_train": pick(scale, smoke=370, book=3700, paper=37000),
            "n_val": pick(scale, smoke=148, book=740, paper=3700),
            "epochs": pick(scale, smoke=1, book=6, paper=20),
            "batch_size": 64, "lr": 2e-3, "channels": 128, "seed": seed}


def _train_classifier(model, x_train, y_train, x_val, y_val, cfg, device, desc):
    def loss_fn(m, b):
        return nn.functional.cross_entropy(m(b[0]), b[1])

    # the inputs move to the training device once: no per-batch host→device copies
    x_train, y_train, x_val, y_val = (t.to(device) for t in (x_train, y_train, x_val, y_val))

    def accuracy(m, xs, ys):
        correct = 0
        for xb, yb in batches(xs, ys, batch_size=256):
            correct += (m(xb).argmax(1) == yb).sum().item()
        return correct / len(ys)

    hist = fit(model, lambda e: batches(x_train, y_train, batch_size=cfg["batch_size"], shuffle=True,
                                        seed=cfg["seed"] * 1000 + e),
               loss_fn, epochs=cfg["epochs"], lr=cfg["lr"], weight_decay=1e-4,
               val_fn=lambda m: accuracy(m, x_val, y_val), device=device, desc=desc)
    return {"loss": hist.loss, "val_accuracy": hist.val, "best_epoch": hist.best_epoch,
            "held_out_accuracy": hist.best_val}


def pretrained_encoders(scale: str = "book", device="auto", seed: int = 0, cache_dir=None) -> Encoders:
    """Train-or-load the world-pretrained visual and audio encoders (frozen, eval mode).

    ``results`` holds the per-epoch losses and the held-out (validation) accuracy of each
    encoder's classifier on the pretraining split's 37 classes.
    """
    device = resolve_device(device)
    cfg = _pretrain_config(scale, seed)
    data = {}

    def get_data():
        if not data:
            train = Pretrain(cfg["n_train"], seed=seed)
            val = Pretrain(cfg["n_val"], seed=seed + 10_000)
            tr = render_arrays(train, desc="render pretraining split")
            va = render_arrays(val, desc="render pretraining val")
            data.update(tr=tr, va=va, K=train.num_classes)
        return data

    def train_visual(model):
        d = get_data()
        return _train_classifier(model, image_to_tensor(d["tr"]["frame"]), torch.from_numpy(d["tr"]["label"]),
                                 image_to_tensor(d["va"]["frame"]), torch.from_numpy(d["va"]["label"]),
                                 cfg, device, "pretrain visual")

    def train_audio(model):
        d = get_data()
        spec = lambda a: AudioEncoder.spectrogram(torch.from_numpy(a))  # noqa: E731
        return _train_classifier(model, spec(d["tr"]["audio"]), torch.from_numpy(d["tr"]["label"]),
                                 spec(d["va"]["audio"]), torch.from_numpy(d["va"]["label"]),
                                 cfg, device, "pretrain audio")

    K = len(Pretrain(1).classes)
    with torch_threads(SHARED_THREADS):  # the same encoders whichever chapter trains them first
        vis, vres, _ = train_or_load("visual-encoder", {**cfg, "scale": scale},
                                     lambda: Classifier(VisualEncoder(cfg["channels"]), cfg["channels"], K),
                                     train_visual, cache_dir=cache_dir, modules=ENCODER_MODULES, seed=seed)
        aud, ares, _ = train_or_load("audio-encoder", {**cfg, "scale": scale},
                                     lambda: Classifier(AudioEncoder(128), 128, K),
                                     train_audio, cache_dir=cache_dir, modules=ENCODER_MODULES, seed=seed)
    for m in (vis, aud):
        m.to(device).eval().requires_grad_(False)
    return Encoders(vis.encoder, aud.encoder, {"visual": vres, "audio": ares},
                    config_key({**cfg, "scale": scale}, ENCODER_MODULES))


@torch.no_grad()
def encode_frames(encoder: VisualEncoder, frames: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """uint8 frames (N, H, W, 3) → channels-last feature maps (N, h, w, C) float32."""
    device = next(encoder.parameters()).device
    # uint8 frames travel to the encoder's device and are normalised there
    out = [encoder(image_to_tensor(torch.from_numpy(np.ascontiguousarray(frames[i:i + batch_size])).to(device)))
           .permute(0, 2, 3, 1).float().cpu()
           for i in range(0, len(frames), batch_size)]
    return torch.cat(out).numpy()


@torch.no_grad()
def encode_audio(encoder: AudioEncoder, waves: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """One-second waveforms (N, 16000) → embeddings (N, 128) float32."""
    device = next(encoder.parameters()).device
    out = [encoder(torch.from_numpy(np.ascontiguousarray(waves[i:i + batch_size])).to(device)).float().cpu()
           for i in range(0, len(waves), batch_size)]
    return torch.cat(out).numpy()


def events_features(task, encoders: Encoders, cache_dir=None, chunk: int = 64, desc=None) -> dict:
    """AVE-shaped features of an ``events`` task, cached on disk by task config and encoders.

    Returns ``visual`` (N, T, h, w, C) float16, ``audio`` (N, T, 128) float32,
    ``segment_labels`` (N, T), ``video_label`` (N,), and the ``audible`` / ``visible``
    truth (N, T). Videos are rendered and encoded in chunks, so memory stays bounded.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
    cfg = {"task": task.name, "n": task.n, "seed": task.seed, "config": repr(task.config), "enc": encoders.key}
    key = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir / f"events-features-{key}.pt"
    if path.exists():
        return torch.load(path, weights_only=False)
    with torch_threads(SHARED_THREADS):  # shared through the cache: independent of the caller's threads
        feats = _encode_events(task, encoders, chunk, desc)
    atomic_save(feats, path)
    return feats


def _encode_events(task, encoders: Encoders, chunk: int, desc) -> dict:
    T, F = task.config.segments, task.config.frames_per_segment
    parts = {k: [] for k in ("visual", "audio", "segment_labels", "video_label", "audible", "visible")}
    for start in tqdm(range(0, task.n, chunk), desc=desc or "encode events", leave=False):
        raw = render_arrays(task, ("frames", "audio", "segment_labels", "video_label", "audible", "visible"),
                            range(start, min(task.n, start + chunk)), desc=False)
        n = len(raw["frames"])
        fmap = encode_frames(encoders.visual, raw["frames"].reshape(n * T * F, *raw["frames"].shape[2:]))
        fmap = fmap.reshape(n, T, F, *fmap.shape[1:]).mean(2)  # average the frames of a segment
        aud = encode_audio(encoders.audio, raw["audio"].reshape(n * T, -1)).reshape(n, T, -1)
        parts["visual"].append(fmap.astype(np.float16))
        parts["audio"].append(aud)
        for k in ("segment_labels", "video_label", "audible", "visible"):
            parts[k].append(raw[k])
    feats = {k: np.concatenate(v) for k, v in parts.items()}
    feats["classes"] = list(task.classes)
    return feats
