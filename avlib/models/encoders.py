"""Small convolutional encoders pretrained on the world's ``pretrain`` split.

They stand in for the frozen ImageNet (VGG-19 / ResNet) and AudioSet (VGGish) networks
the papers use, in the same output shapes: a visual feature map of ``7×7×C`` per frame
(AVE's is 7×7×512) and a 128-d audio embedding per second (VGGish's size).
"""
from __future__ import annotations

import torch
from torch import nn

from ..audio import log_mel, normalise_log_mel


def conv_block(c_in: int, c_out: int, stride: int = 2) -> nn.Sequential:
    """3×3 conv (strided) → BN → ReLU → 3×3 conv → BN → ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


class VisualEncoder(nn.Module):
    """Image (B, 3, 112, 112) → feature map (B, C, 7, 7): four stride-2 stages, total stride 16."""

    def __init__(self, channels: int = 128, widths=(16, 32, 64)):
        super().__init__()
        w = list(widths) + [channels]
        self.stem = nn.Sequential(nn.Conv2d(3, w[0], 3, 2, 1, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU(inplace=True))
        self.stages = nn.Sequential(*[conv_block(a, b) for a, b in zip(w[:-1], w[1:])])
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))


class AudioEncoder(nn.Module):
    """One second of audio (B, 16000) or a log-mel (B, 1, 64, 101) → embedding (B, 128).

    Log-mel with 25 ms windows and a 10 ms hop, four conv stages, global max pooling
    and a linear layer to 128 dimensions (the VGGish embedding size).
    """

    def __init__(self, dim: int = 128, widths=(16, 32, 64, 128)):
        super().__init__()
        w = [1] + list(widths)
        self.stages = nn.Sequential(*[conv_block(a, b) for a, b in zip(w[:-1], w[1:])])
        self.fc = nn.Linear(w[-1], dim)
        self.dim = dim

    @staticmethod
    def spectrogram(wave: torch.Tensor) -> torch.Tensor:
        return normalise_log_mel(log_mel(wave)).unsqueeze(-3)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Conv features (B, C, F', T') of a waveform or a log-mel."""
        if x.dim() == 2:
            x = self.spectrogram(x)
        return self.stages(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.feature_map(x).amax(dim=(-2, -1)))


class Classifier(nn.Module):
    """An encoder with a linear head, for supervised pretraining; pools maps to vectors."""

    def __init__(self, encoder: nn.Module, feature_dim: int, num_classes: int):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(feature_dim, num_classes)

    def forward(self, x):
        z = self.encoder(x)
        if z.dim() == 4:
            z = z.mean(dim=(-2, -1))
        return self.head(z)
