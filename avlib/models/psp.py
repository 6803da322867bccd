"""Positive Sample Propagation (Zhou et al., CVPR 2021) and its AVEL backbone (Tian et al., ECCV 2018).

One network, :class:`AVELocalizer`, whose settings give every row of the paper's tables:

- Sec. 4.2 feature extraction and encoding: :class:`AVGA` (audio-guided visual attention,
  Tian et al. 2018) over the h×w visual map, then one Bi-LSTM per modality
  (:class:`Encoder`); optional self-attention before the Bi-LSTMs (the paper's SAPSP).
- Sec. 4.3, Eq. 1–3: :class:`PSP` (all-pair similarity, pruning, propagation with a
  residual); the pruning itself is :func:`prune_connections`. ``tau`` selects the variant:
  ``tau=None`` (τ = −∞, ASP: every connection, negative ones included), ``tau=0`` (WPSP:
  negative connections cut), ``tau=0.095`` (PSP).
- Sec. 4.4, Eq. 4–6: layer-normalised average fusion (:class:`AVELocalizer` with
  ``fusion="ln_avg"``), the fully supervised head (two FC layers), the weakly supervised
  head with (Eq. 5) or without (Eq. 6) the weighting branch.
- AVEL (Tian et al. 2018): the same encoder, no PSP, concatenation fusion
  (:func:`avlib.models.avel.avel`).

Losses (Eq. 7–11) are in :mod:`avlib.losses`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

EPS = 1e-12
#: the official code's ℓ1 normaliser: ``x / (Σ + 1e-8)``
OFFICIAL_L1_EPS = 1e-8
L1_NORMS = ("clamp", "official")


@dataclass(frozen=True)
class PSPConfig:
    """Settings of :class:`AVELocalizer`. Defaults: the paper's PSP, sized for a CPU.

    The official code uses ``d_model=256`` (Bi-LSTM hidden 128 per direction),
    ``att_hidden=512`` and τ = 0.099 (full) / 0.095 (weak); the paper's Table 3 reports
    its best accuracy at τ = 0.095 in both settings, which is the default here.
    """
    visual_dim: int = 512
    audio_dim: int = 128
    num_classes: int = 29          # event classes + background (AVE: 28 + 1)
    d_in: int = 128                # width of the projected features fed to the Bi-LSTMs
    d_model: int = 256             # d_l, the Bi-LSTM output (two directions)
    att_hidden: int = 256          # AVGA hidden size
    cls_hidden: int = 64           # first FC of the classifier (official: 256→64→29)
    psp: bool = True               # False: "w/o PSP" (and AVEL)
    tau: float | None = 0.095      # None: τ = −∞ (ASP); 0: WPSP; > 0: PSP
    renormalize: bool = True       # the second ℓ1 normalisation after thresholding (Eq. 2)
    self_attention: bool = False   # SAPSP: self-attention before the Bi-LSTMs
    fusion: str = "ln_avg"         # "ln_avg" (PSP, Eq. 4) or "concat" (AVEL)
    weak: bool = False             # weakly supervised head (Eq. 5/6)
    weighting: bool = True         # the weak head's weighting branch (Eq. 5); False → Eq. 6
    dropout: float = 0.1
    #: ReLU (then dropout) on the four bias-free PSP branches and after the fusion FCs
    #: (Linear → ReLU → dropout → shared LayerNorm). True: official code (the default);
    #: False: the paper's Eq. 1, 3 and 4 as written (no nonlinearity, dropout before the FCs).
    official_relu: bool = True
    #: AVGA: where the audio term is added. "positions": official code (the default) — ReLU'd
    #: projections of audio and visual, each mapped to ``n_positions`` scores, the audio scores
    #: added along the positions, tanh, Linear(→1), softmax. "hidden": the paper's equation
    #: (Tian et al. 2018), ``wᵀ tanh(U_v V + (U_a a) 1ᵀ)`` with the audio term along the hidden axis.
    avga_audio_axis: str = "positions"
    n_positions: int = 49           # h·w of the visual map (7×7); needed by avga_audio_axis="positions"
    #: Deviations from the official code, kept as named options (their defaults are avlib's, with which
    #: the book was executed; set them to the official values to train the official model):
    #: dropout between the classifier's two FCs (official ``psp_net``: none, ``classifier_dropout=False``)
    classifier_dropout: bool = True
    #: the ℓ1 normalisations of Eq. 2: "clamp" ``x / max(Σ, 1e-12)`` (avlib) or "official" ``x / (Σ + 1e-8)``
    l1_norm: str = "clamp"
    #: weight init: "default" (PyTorch's) or "xavier" (official: xavier_uniform on the PSP branches, the
    #: fusion FCs, the classifier and the AVGA projections; biases and LSTMs keep PyTorch's)
    init: str = "default"

    def __post_init__(self):
        if self.l1_norm not in L1_NORMS:
            raise ValueError(f"unknown l1_norm {self.l1_norm!r}; valid: {L1_NORMS}")
        if self.init not in ("default", "xavier"):
            raise ValueError(f"unknown init {self.init!r}; valid: 'default', 'xavier' (official)")
        if self.avga_audio_axis not in ("positions", "hidden"):
            raise ValueError(f"unknown avga_audio_axis {self.avga_audio_axis!r}; valid: 'positions' (official), "
                             "'hidden' (paper)")

    def as_dict(self) -> dict:
        return asdict(self)


class AVGA(nn.Module):
    """Audio-guided visual attention (Tian et al. 2018, Sec. 3.2), used by PSP in Sec. 4.2.

    ``audio_axis="hidden"`` (the paper's equation): ω_t = softmax(wᵀ tanh(U_v V_t + (U_a a_t) 1ᵀ))
    over the N = h·w positions, the audio term added to every position's hidden vector.
    ``audio_axis="positions"`` (official code, the default): v = ReLU(U_v V_t) (N, hidden),
    a = ReLU(U_a a_t) (hidden); z = W_v v (N, N) + (W_g a) 1ᵀ — the audio is mapped to N
    scores, one per position, added along the positions — then ω_t = softmax(tanh(z) w).
    v_t^att = Σ_i ω_t,i V_t,i. Input ``visual (B, T, N, C)``, ``audio (B, T, D)``;
    returns the attended visual ``(B, T, C)`` and the attention ``(B, T, N)``.
    """

    def __init__(self, visual_dim: int, audio_dim: int, hidden: int, audio_axis: str = "positions",
                 n_positions: int = 49):
        super().__init__()
        self.audio_axis, self.n_positions = audio_axis, n_positions
        self.visual = nn.Linear(visual_dim, hidden)
        self.audio = nn.Linear(audio_dim, hidden)
        if audio_axis == "positions":
            self.v_pos = nn.Linear(hidden, n_positions, bias=False)   # official affine_v
            self.a_pos = nn.Linear(hidden, n_positions, bias=False)   # official affine_g
            self.score = nn.Linear(n_positions, 1, bias=False)        # official affine_h
        elif audio_axis == "hidden":
            self.score = nn.Linear(hidden, 1, bias=False)
        else:
            raise ValueError(f"unknown audio_axis {audio_axis!r}; valid: 'positions' (official), 'hidden' (paper)")

    def forward(self, visual, audio):
        if self.audio_axis == "hidden":
            h = torch.tanh(self.visual(visual) + self.audio(audio).unsqueeze(2))
        else:
            if visual.shape[2] != self.n_positions:
                raise ValueError(f"AVGA(audio_axis='positions') was built for n_positions={self.n_positions} "
                                 f"but the visual map has {visual.shape[2]} positions; set PSPConfig.n_positions "
                                 "to h·w of the features (or avga_audio_axis='hidden')")
            v = self.v_pos(F.relu(self.visual(visual)))                 # (B, T, N, N)
            g = self.a_pos(F.relu(self.audio(audio)))                   # (B, T, N): one score per position
            h = torch.tanh(v + g.unsqueeze(-1))                         # added along the positions
        att = torch.softmax(self.score(h).squeeze(-1), dim=-1)
        return torch.einsum("btn,btnc->btc", att, visual), att


class SelfAttention(nn.Module):
    """Single-modality self-attention over the T segments (Vaswani et al.), residual + LayerNorm (SAPSP)."""

    def __init__(self, dim: int, heads: int = 4, dropout: float = 0.1):
        super().__init__()
        self.att = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        return self.norm(x + self.att(x, x, x, need_weights=False)[0])


class Encoder(nn.Module):
    """Sec. 4.2: AVGA, projections, optional self-attention, one Bi-LSTM per modality.

    Returns ``v_lstm, a_lstm`` of shape ``(B, T, d_model)`` and the AVGA attention.
    """

    def __init__(self, cfg: PSPConfig):
        super().__init__()
        if cfg.d_model % 2:
            raise ValueError(f"d_model must be even (two LSTM directions), got {cfg.d_model}")
        self.avga = AVGA(cfg.visual_dim, cfg.audio_dim, cfg.att_hidden, cfg.avga_audio_axis, cfg.n_positions)
        self.v_proj = nn.Linear(cfg.visual_dim, cfg.d_in)
        self.a_proj = nn.Linear(cfg.audio_dim, cfg.d_in)
        self.v_sa = SelfAttention(cfg.d_in) if cfg.self_attention else None
        self.a_sa = SelfAttention(cfg.d_in) if cfg.self_attention else None
        self.v_lstm = nn.LSTM(cfg.d_in, cfg.d_model // 2, batch_first=True, bidirectional=True)
        self.a_lstm = nn.LSTM(cfg.d_in, cfg.d_model // 2, batch_first=True, bidirectional=True)

    def forward(self, visual, audio):
        v_att, att = self.avga(visual, audio)
        v, a = self.v_proj(v_att), self.a_proj(audio)
        if self.v_sa is not None:
            v, a = self.v_sa(v), self.a_sa(a)
        return self.v_lstm(v)[0], self.a_lstm(a)[0], att


def _l1(x: torch.Tensor, norm: torch.Tensor, l1_norm: str, eps: float) -> torch.Tensor:
    return x / (norm + OFFICIAL_L1_EPS) if l1_norm == "official" else x / norm.clamp_min(eps)


def prune_connections(beta: torch.Tensor, tau: float | None, renormalize: bool = True,
                      eps: float = EPS, l1_norm: str = "clamp") -> torch.Tensor:
    """Sec. 4.3 step 2 (Eq. 2): from raw similarities ``(…, T, T)`` to the connection weights γ.

    ReLU (cuts negative connections) → row-wise ℓ1 normalisation (β̄) → keep entries with
    β̄ ≥ τ (the indicator 𝕀(β̄ − τ)) → row-wise ℓ1 renormalisation (γ).
    ``tau=None`` is τ = −∞ (ASP): no connection is cut, not even the negative ones, and
    rows are divided by their ℓ1 norm (so weights keep their sign). ``renormalize=False``
    skips the last step, as the official weakly supervised code does. ``l1_norm``: "clamp"
    divides by ``max(Σ, eps)``; "official" by ``Σ + 1e-8`` as the official code.
    """
    if tau is None:
        return _l1(beta, beta.abs().sum(-1, keepdim=True), l1_norm, eps)
    b = F.relu(beta)
    b = _l1(b, b.sum(-1, keepdim=True), l1_norm, eps)
    g = b * (b >= tau).to(b.dtype)
    if renormalize:
        g = _l1(g, g.sum(-1, keepdim=True), l1_norm, eps)
    return g


class PSP(nn.Module):
    """Positive sample propagation, Sec. 4.3 (Eq. 1–3).

    Eq. 1: β_va = (v W1v)(a W1a)ᵀ / √d_l, β_av = β_vaᵀ (before the row normalisation, so
    each direction is normalised over its own rows). Eq. 2: γ = :func:`prune_connections`.
    Eq. 3: v_psp = γ_va (a W2a) + v, a_psp = γ_av (v W2v) + a.
    ``relu=True`` (official code, the default): each branch is ``dropout(ReLU(x W))``;
    ``relu=False`` (the paper's equations): ``dropout(x W)``.
    Returns ``v_psp, a_psp, gamma_va, gamma_av``.
    """

    def __init__(self, dim: int, tau: float | None = 0.095, renormalize: bool = True, dropout: float = 0.1,
                 relu: bool = True, l1_norm: str = "clamp"):
        super().__init__()
        self.tau, self.renormalize, self.scale, self.l1_norm = tau, renormalize, 1.0 / math.sqrt(dim), l1_norm
        self.act = nn.ReLU() if relu else nn.Identity()
        self.w1v = nn.Linear(dim, dim, bias=False)
        self.w1a = nn.Linear(dim, dim, bias=False)
        self.w2v = nn.Linear(dim, dim, bias=False)
        self.w2a = nn.Linear(dim, dim, bias=False)
        self.drop = nn.Dropout(dropout)

    def forward(self, v, a):
        branch = lambda w, x: self.drop(self.act(w(x)))  # noqa: E731
        beta_va = branch(self.w1v, v) @ branch(self.w1a, a).transpose(-1, -2) * self.scale
        gamma_va = prune_connections(beta_va, self.tau, self.renormalize, l1_norm=self.l1_norm)
        gamma_av = prune_connections(beta_va.transpose(-1, -2), self.tau, self.renormalize, l1_norm=self.l1_norm)
        v_psp = gamma_va @ branch(self.w2a, a) + v
        a_psp = gamma_av @ branch(self.w2v, v) + a
        return v_psp, a_psp, gamma_va, gamma_av


class AVELocalizer(nn.Module):
    """The full system of Fig. 2 (PSP) or, with other settings, its ablations and AVEL.

    ``forward(visual (B, T, h, w, C) or (B, T, N, C), audio (B, T, D))`` returns a dict:
    ``scores`` (B, T, C) per-segment logits (fully) or scores f^h (weak), ``v_lstm``,
    ``a_lstm``, ``v_psp``, ``a_psp`` (the features after PSP, = after the Bi-LSTM without
    it), ``v_fc``/``a_fc`` (the layer-normalised terms of Eq. 4; the official code computes
    its AVPS loss on these), ``gamma_va``/``gamma_av`` (B, T, T) when PSP is on, ``attention`` (B, T, N), and in
    the weak setting ``video_prob`` (B, C) and ``weights`` φ (B, T).
    """

    def __init__(self, cfg: PSPConfig | None = None, **overrides):
        super().__init__()
        cfg = cfg or PSPConfig()
        if overrides:
            cfg = PSPConfig(**{**cfg.as_dict(), **overrides})
        if cfg.fusion not in ("ln_avg", "concat"):
            raise ValueError(f"unknown fusion {cfg.fusion!r}; use 'ln_avg' (PSP) or 'concat' (AVEL)")
        self.cfg = cfg
        d = cfg.d_model
        self.encoder = Encoder(cfg)
        self.psp = PSP(d, cfg.tau, cfg.renormalize, cfg.dropout, cfg.official_relu, cfg.l1_norm) if cfg.psp else None
        if cfg.fusion == "ln_avg":       # Eq. 4: f = ½[N(v W3v) + N(a W3a)], one shared LayerNorm
            self.w3v, self.w3a = nn.Linear(d, d), nn.Linear(d, d)
            self.norm = nn.LayerNorm(d, eps=1e-6)
            d_f = d
        else:                             # AVEL: concatenation of the synchronized pair
            d_f = 2 * d
        self.drop = nn.Dropout(cfg.dropout)
        # two FC layers (W4, W5 in Eq. 5): per-segment scores
        self.classifier = nn.Sequential(nn.Linear(d_f, cfg.cls_hidden), nn.ReLU(),
                                        nn.Dropout(cfg.dropout) if cfg.classifier_dropout else nn.Identity(),
                                        nn.Linear(cfg.cls_hidden, cfg.num_classes))
        self.weighting = nn.Linear(cfg.num_classes, 1) if (cfg.weak and cfg.weighting) else None  # W6
        if cfg.init == "xavier":
            self.xavier_init()

    def xavier_init(self):
        """The official init: ``xavier_uniform`` on the weights of the PSP branches, the fusion FCs, the
        classifier and the AVGA projections (biases, LSTMs and the rest keep PyTorch's init)."""
        layers = [*self.classifier.children(), getattr(self, "w3v", None), getattr(self, "w3a", None),
                  *([] if self.psp is None else [self.psp.w1v, self.psp.w1a, self.psp.w2v, self.psp.w2a]),
                  *self.encoder.avga.children()]
        for layer in layers:
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight)

    def project(self, v, a):
        """Eq. 4's per-modality terms N(v W3v), N(a W3a) (``ln_avg``), or the inputs (``concat``).

        ``official_relu`` (official code): ``LayerNorm(dropout(ReLU(x W3)))``; otherwise (the
        paper): ``LayerNorm(dropout(x) W3)``."""
        if self.cfg.fusion != "ln_avg":
            return v, a
        def proj(w, x):
            return self.norm(self.drop(F.relu(w(x)))) if self.cfg.official_relu else self.norm(w(self.drop(x)))
        return proj(self.w3v, v), proj(self.w3a, a)

    def fuse(self, v, a):
        """Eq. 4: ½[N(v W3v) + N(a W3a)] (``ln_avg``) or the concatenation (AVEL), from :meth:`project`."""
        if self.cfg.fusion == "ln_avg":
            return 0.5 * (v + a)
        return torch.cat([v, a], -1)

    def forward(self, visual, audio):
        visual, audio = visual.float(), audio.float()
        if visual.dim() == 5:
            visual = visual.flatten(2, 3)
        v_lstm, a_lstm, att = self.encoder(visual, audio)
        out = {"v_lstm": v_lstm, "a_lstm": a_lstm, "attention": att}
        if self.psp is not None:
            v, a, g_va, g_av = self.psp(v_lstm, a_lstm)
            out.update(gamma_va=g_va, gamma_av=g_av)
        else:
            v, a = v_lstm, a_lstm
        out.update(v_psp=v, a_psp=a)
        if self.cfg.fusion == "concat":
            v, a = self.drop(v), self.drop(a)
        v_fc, a_fc = self.project(v, a)
        f = self.fuse(v_fc, a_fc)
        out.update(v_fc=v_fc, a_fc=a_fc, fused=f)
        scores = self.classifier(f)
        out["scores"] = scores
        if self.cfg.weak:
            if self.weighting is not None:   # Eq. 5: φ = σ(f^h W6), o = s(f_avg(f^h ⊙ Φ))
                phi = torch.sigmoid(self.weighting(scores))
                out["weights"] = phi.squeeze(-1)
                pooled = (scores * phi).mean(1)
            else:                            # Eq. 6: o = s(f_avg(f^h))
                pooled = scores.mean(1)
            out["video_prob"] = torch.softmax(pooled, -1)
        return out

    @torch.no_grad()
    def predict(self, visual, audio) -> torch.Tensor:
        """Per-segment class predictions ``(B, T)`` (argmax of the segment scores, both settings)."""
        return self(visual, audio)["scores"].argmax(-1)
