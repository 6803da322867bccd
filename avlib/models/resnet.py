"""ResNet-18 two-stream encoders (He et al. 2016), as used by LVS (Chen et al. 2021, Sec. 2.1, 3.3).

Built from torchvision's ``BasicBlock`` with the layer names of ``torchvision.models.resnet18``
(``conv1, bn1, maxpool, layer1..layer4``), so that at ``width=64`` the state dicts match
torchvision's and ImageNet weights could be loaded where they exist. None exist offline:
here the encoders start from random weights (trained from scratch).

- :class:`VisualResNet18`: image ``(B, 3, H, W)`` → map ``(B, C, h, w)``, no pooling. The
  last stage's stride is removed (``layer4_stride=1``, as in the official LVS code), giving
  14×14 at 224 px. At the world's 112 px that gives 7×7; ``layer3_stride=1`` also removes
  layer3's stride and restores the paper's 14×14 map at 112 px (total stride 8).
- :class:`AudioResNet18`: a 1-channel spectrogram ``(B, 1, F, T)`` (or a waveform ``(B, S)``,
  turned into the shared log-mel of :mod:`avlib.audio`) → vector ``(B, C)`` by global max
  pooling of the last feature map (the official code's audio stream).

``width`` sets the channels of layer1 (torchvision: 64; stages are width × 1, 2, 4, 8).
A narrower network (``width=16`` → 128-d output) is a deviation from the paper that makes the
book scale feasible on 2 CPU cores; ``width=64`` is the paper's network (512-d).
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, conv1x1

from ..audio import log_mel, normalise_log_mel


def _make_layer(inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    downsample = None
    if stride != 1 or inplanes != planes:
        downsample = nn.Sequential(conv1x1(inplanes, planes, stride), nn.BatchNorm2d(planes))
    layers = [BasicBlock(inplanes, planes, stride, downsample)]
    layers += [BasicBlock(planes, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNet18Trunk(nn.Module):
    """ResNet-18 without its classifier: conv1 → bn1 → relu → maxpool → layer1..4 → feature map."""

    def __init__(self, in_channels: int = 3, width: int = 64, layer3_stride: int = 2, layer4_stride: int = 2):
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be a positive number of channels, got {width}")
        w = [width, 2 * width, 4 * width, 8 * width]
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = _make_layer(w[0], w[0], 2, 1)
        self.layer2 = _make_layer(w[0], w[1], 2, 2)
        self.layer3 = _make_layer(w[1], w[2], 2, layer3_stride)
        self.layer4 = _make_layer(w[2], w[3], 2, layer4_stride)
        self.out_channels = w[3]
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class VisualResNet18(ResNet18Trunk):
    """Visual stream f(·; θ1) of LVS eq. (1): image → V ∈ R^{C×h×w} (layer4 stride removed)."""

    def __init__(self, width: int = 64, layer3_stride: int = 2):
        super().__init__(3, width, layer3_stride=layer3_stride, layer4_stride=1)


class AudioResNet18(ResNet18Trunk):
    """Audio stream g(·; θ2) of LVS eq. (2): 1-channel spectrogram → A ∈ R^C (global max pool)."""

    def __init__(self, width: int = 64):
        super().__init__(1, width)

    @staticmethod
    def spectrogram(wave: torch.Tensor) -> torch.Tensor:
        """Waveforms ``(B, S)`` → normalised log-mel ``(B, 1, 64, frames)`` (:mod:`avlib.audio`)."""
        return normalise_log_mel(log_mel(wave)).unsqueeze(-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = self.spectrogram(x)
        return super().forward(x).amax(dim=(-2, -1))
