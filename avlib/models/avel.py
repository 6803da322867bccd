"""AVEL (Tian et al., *Audio-visual event localization in unconstrained videos*, ECCV 2018).

The baseline of Zhou et al. (CVPR 2021), Tables 2 and 4: audio-guided visual attention
(AVGA), one Bi-LSTM per modality, the synchronized audio and visual features concatenated
and classified per segment. It shares :class:`avlib.models.psp.Encoder` with PSP (the
paper's "same feature extractor"), so the AVPS loss and the weighting branch can be put on
both (Table 2).
"""
from __future__ import annotations

from .psp import AVELocalizer, PSPConfig


def avel(cfg: PSPConfig | None = None, **overrides) -> AVELocalizer:
    """An AVEL network: :class:`AVELocalizer` with ``psp=False`` and ``fusion="concat"``."""
    return AVELocalizer(cfg, **{**overrides, "psp": False, "fusion": "concat", "self_attention": False})
