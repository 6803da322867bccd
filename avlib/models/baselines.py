"""Simple frozen-feature baselines used to calibrate the world (world chapter).

:class:`SegmentClassifier` classifies each one-second segment on its own from the
frozen features of one modality or of both, concatenated at the same time step: the
"synchronized audio-visual baseline". It has no view across segments, so it cannot use
the context that PSP, AVEL's LSTMs or MIL pooling exploit.
"""
from __future__ import annotations

import torch
from torch import nn

MODALITIES = ("audio", "visual", "audio-visual")


class SegmentClassifier(nn.Module):
    """Per-segment MLP on frozen features: visual (B, T, h, w, C) pooled over space, audio (B, T, D).

    ``device``: where the weights live (``None``: the CPU); they are initialised on the CPU
    first, so a seed gives the same initial weights on every device.
    """

    def __init__(self, modality: str, visual_dim: int, audio_dim: int, num_classes: int,
                 hidden: int = 256, dropout: float = 0.2, device=None):
        super().__init__()
        if modality not in MODALITIES:
            raise ValueError(f"unknown modality {modality!r}; valid: {MODALITIES}")
        self.modality = modality
        d_in = {"audio": audio_dim, "visual": visual_dim, "audio-visual": audio_dim + visual_dim}[modality]
        self.mlp = nn.Sequential(nn.LayerNorm(d_in), nn.Linear(d_in, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, num_classes))
        if device is not None:  # built on the CPU (same initial weights everywhere), then moved
            self.to(device)

    def forward(self, visual: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, num_classes). Inputs must be on the model's device (no silent copies)."""
        v = visual.float().amax(dim=(2, 3)) if visual.dim() == 5 else visual.float()
        x = {"audio": audio.float(), "visual": v, "audio-visual": torch.cat([v, audio.float()], -1)}[self.modality]
        return self.mlp(x)
