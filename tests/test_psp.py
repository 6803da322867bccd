"""PSP (Zhou et al., CVPR 2021): pruning, propagation, heads, losses, runner — on hand-worked cases."""
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import avlib.train
from avlib.experiments import psp as ex
from avlib.losses import avps_loss, avps_similarity, avps_target, fully_loss, segment_ce, weak_bce, weak_labels
from avlib.models.avel import avel
from avlib.summary import summarize
from avlib.models.psp import PSP, AVELocalizer, PSPConfig, prune_connections

BETA = torch.tensor([[2.0, 1.0, -1.0],
                     [0.5, 0.5, 0.0],
                     [-1.0, -2.0, 3.0]])
SMALL = dict(visual_dim=8, audio_dim=6, num_classes=5, d_in=8, d_model=8, att_hidden=4, cls_hidden=6, n_positions=9)


def test_prune_hand_worked_psp():
    # ReLU → [[2,1,0],[.5,.5,0],[0,0,3]]; row ℓ1 → [[2/3,1/3,0],[.5,.5,0],[0,0,1]]
    # τ = 0.35 prunes the 1/3 of row 0 (a weak connection) and the negatives; renormalised rows sum to 1
    g = prune_connections(BETA, 0.35)
    torch.testing.assert_close(g, torch.tensor([[1.0, 0, 0], [0.5, 0.5, 0], [0, 0, 1.0]]))
    # without the second normalisation (official weak code) the kept entries keep their values
    g = prune_connections(BETA, 0.35, renormalize=False)
    torch.testing.assert_close(g, torch.tensor([[2 / 3, 0, 0], [0.5, 0.5, 0], [0, 0, 1.0]]))


def test_prune_threshold_is_inclusive():
    # Eq. 2's indicator is 1 when β − τ ≥ 0: an entry equal to τ is kept
    g = prune_connections(torch.tensor([[1.0, 1.0, 2.0]]), 0.25)
    torch.testing.assert_close(g, torch.tensor([[0.25, 0.25, 0.5]]))


def test_wpsp_and_asp_are_settings():
    # WPSP (τ = 0): only the negative connections are cut, i.e. ReLU + row ℓ1
    torch.testing.assert_close(prune_connections(BETA, 0.0),
                               torch.tensor([[2 / 3, 1 / 3, 0], [0.5, 0.5, 0], [0, 0, 1.0]]))
    # ASP (τ = −∞): every connection, the negative ones too, rows divided by their ℓ1 norm
    torch.testing.assert_close(prune_connections(BETA, None),
                               torch.tensor([[0.5, 0.25, -0.25], [0.5, 0.5, 0], [-1 / 6, -2 / 6, 0.5]]))
    # the three are one module: same parameters, only τ differs
    keys = {tau: set(AVELocalizer(PSPConfig(**SMALL, tau=tau)).state_dict()) for tau in (None, 0.0, 0.095)}
    assert keys[None] == keys[0.0] == keys[0.095]


def test_prune_all_negative_row_gives_zeros_not_nan():
    g = prune_connections(torch.tensor([[-1.0, -2.0], [1.0, 3.0]]), 0.1)
    assert torch.isfinite(g).all()
    torch.testing.assert_close(g[0], torch.zeros(2))


def test_psp_module_hand_worked():
    psp = PSP(2, tau=0.3, relu=False).eval()   # the paper's Eq. 1–3 (no ReLU on the branches)
    with torch.no_grad():
        for w in (psp.w1v, psp.w1a, psp.w2v, psp.w2a):
            w.weight.copy_(torch.eye(2))
    v = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    a = torch.tensor([[[2.0, 0.0], [0.0, -1.0], [1.0, 0.0]]])
    v_psp, a_psp, g_va, g_av = psp(v, a)
    # β_va = v aᵀ / √2 ∝ [[2,0,1],[0,-1,0],[2,-1,1]] → ReLU, row ℓ1: [[2/3,0,1/3],[0,0,0],[2/3,0,1/3]]
    # τ = 0.3 keeps both → γ_va = same; row 1 (all ≤ 0) stays empty
    want_va = torch.tensor([[2 / 3, 0, 1 / 3], [0, 0, 0], [2 / 3, 0, 1 / 3]])
    torch.testing.assert_close(g_va[0], want_va)
    # β_av = β_vaᵀ ∝ [[2,0,2],[0,-1,-1],[1,0,1]] → [[.5,0,.5],[0,0,0],[.5,0,.5]]
    want_av = torch.tensor([[0.5, 0, 0.5], [0, 0, 0], [0.5, 0, 0.5]])
    torch.testing.assert_close(g_av[0], want_av)
    # Eq. 3: v_psp = γ_va a + v, a_psp = γ_av v + a
    torch.testing.assert_close(v_psp[0], want_va @ a[0] + v[0])
    torch.testing.assert_close(a_psp[0], want_av @ v[0] + a[0])
    torch.testing.assert_close(v_psp[0, 0], torch.tensor([1 + 4 / 3 + 1 / 3, 0.0]))


def test_psp_branches_official_relu():
    # weights −I: every branch x W is ≤ 0 on non-negative inputs; the official ReLU zeroes it,
    # so β = 0, nothing propagates and v_psp = v; the paper's (linear) branches propagate
    v = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    a = torch.tensor([[[2.0, 1.0], [1.0, 1.0], [1.0, 0.0]]])
    out = {}
    for relu in (True, False):
        psp = PSP(2, tau=0.0, relu=relu).eval()
        with torch.no_grad():
            for w in (psp.w1v, psp.w1a, psp.w2v, psp.w2a):
                w.weight.copy_(-torch.eye(2))
        out[relu] = psp(v, a)
    torch.testing.assert_close(out[True][0], v)
    torch.testing.assert_close(out[True][2], torch.zeros(1, 3, 3))
    # paper: β = (−v)(−a)ᵀ/√2 = v aᵀ/√2 ≥ 0, so γ_va = row-normalised v aᵀ and v_psp = v − γ_va a
    beta = v[0] @ a[0].T
    g = beta / beta.sum(-1, keepdim=True)
    torch.testing.assert_close(out[False][2][0], g)
    torch.testing.assert_close(out[False][0][0], v[0] - g @ a[0])


def test_fusion_fc_official_relu_and_paper_form():
    torch.manual_seed(0)
    x = torch.randn(2, 10, 8)
    for relu in (True, False):
        m = AVELocalizer(PSPConfig(**SMALL, official_relu=relu)).eval()
        v_fc, _ = m.project(x, x)
        want = m.norm(F.relu(m.w3v(x)) if relu else m.w3v(x))
        torch.testing.assert_close(v_fc, want)
    with torch.no_grad():  # official: W3 = −I, zero bias, x ≥ 0 → ReLU gives 0 → LayerNorm(0) = its bias (0)
        m = AVELocalizer(PSPConfig(**SMALL)).eval()
        m.w3v.weight.copy_(-torch.eye(8))
        m.w3v.bias.zero_()
        torch.testing.assert_close(m.project(x.abs(), x)[0], torch.zeros(2, 10, 8))


def test_avga_audio_along_positions_vs_hidden():
    from avlib.models.psp import AVGA
    torch.manual_seed(0)
    visual, audio = torch.randn(1, 1, 4, 3), torch.randn(1, 1, 2)
    hid = AVGA(3, 2, 5, audio_axis="hidden")
    pos = AVGA(3, 2, 5, audio_axis="positions", n_positions=4)
    with torch.no_grad():
        for m in (hid, pos):        # no visual content: only the audio term can steer the attention
            m.visual.weight.zero_()
            m.visual.bias.zero_()
    # paper (hidden axis): the audio term is the same for every position → uniform attention
    torch.testing.assert_close(hid(visual, audio)[1], torch.full((1, 1, 4), 0.25))
    # official (positions axis): the audio is mapped to one score per position: explicit formula
    g = pos.a_pos(F.relu(pos.audio(audio)))[0, 0]                       # (4,)
    z = torch.tanh(pos.v_pos(torch.zeros(5))[None, :] + g[:, None]) @ pos.score.weight[0]   # (4,)
    att = pos(visual, audio)[1][0, 0]
    torch.testing.assert_close(att, torch.softmax(z, 0))
    assert att.std() > 1e-3
    torch.testing.assert_close(pos(visual, audio)[0][0, 0], att @ visual[0, 0])
    with pytest.raises(ValueError, match="n_positions"):
        pos(torch.randn(1, 1, 9, 3), audio)
    with pytest.raises(ValueError, match="avga_audio_axis"):
        PSPConfig(avga_audio_axis="time")


def test_paper_forms_keep_the_previous_parameters():
    names = lambda **kw: {n for n, _ in AVELocalizer(PSPConfig(**SMALL, **kw)).named_parameters()}  # noqa: E731
    assert {"encoder.avga.v_pos.weight", "encoder.avga.a_pos.weight"} <= names()
    assert not any("v_pos" in n for n in names(avga_audio_axis="hidden"))


@pytest.mark.parametrize("paper", [False, True])
@pytest.mark.parametrize("setting", ["full", "weak"])
@pytest.mark.parametrize("variant", ["w/o PSP", "ASP", "WPSP", "SAPSP", "PSP", "AVEL"])
def test_gradients_reach_every_parameter(variant, setting, paper):
    torch.manual_seed(0)
    weak = setting == "weak"
    forms = dict(official_relu=False, avga_audio_axis="hidden") if paper else {}
    model = AVELocalizer(PSPConfig(**SMALL, weak=weak, **forms, **{"tau": 0.05, **ex.VARIANTS[variant]}))
    model.train()
    v, a = torch.randn(4, 10, 3, 3, 8), torch.randn(4, 10, 6)
    y = torch.randint(0, 5, (4, 10))
    out = model(v, a)
    if weak:
        loss = weak_bce(out["video_prob"], weak_labels(y, 5))
    else:
        loss = fully_loss(out["scores"], y, out["v_psp"], out["a_psp"], y != 4)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient reaches {missing}"


def test_variants_differ_where_they_should():
    params = lambda m: {n for n, _ in m.named_parameters()}  # noqa: E731
    base = params(AVELocalizer(PSPConfig(**SMALL)))
    assert {n for n in params(AVELocalizer(PSPConfig(**SMALL, self_attention=True))) - base} >= {"encoder.v_sa.norm.weight"}
    assert not any(n.startswith("psp.") for n in params(AVELocalizer(PSPConfig(**SMALL, psp=False))))
    m = avel(PSPConfig(**SMALL))
    assert m.psp is None and m.cfg.fusion == "concat" and m.classifier[0].in_features == 2 * SMALL["d_model"]
    with pytest.raises(ValueError, match="fusion"):
        AVELocalizer(PSPConfig(**SMALL, fusion="sum"))


def test_forward_shapes_full():
    model = AVELocalizer(PSPConfig(**SMALL)).eval()
    out = model(torch.randn(2, 10, 3, 3, 8).half(), torch.randn(2, 10, 6))
    assert out["scores"].shape == (2, 10, 5)
    assert out["gamma_va"].shape == out["gamma_av"].shape == (2, 10, 10)
    assert out["attention"].shape == (2, 10, 9)
    torch.testing.assert_close(out["attention"].sum(-1), torch.ones(2, 10))
    rows = out["gamma_va"].sum(-1)  # renormalised rows sum to 1 (or 0 when every entry was pruned)
    assert torch.all(((rows - 1).abs() < 1e-5) | (rows.abs() < 1e-6))
    assert "video_prob" not in out
    assert model.predict(torch.randn(2, 10, 3, 3, 8), torch.randn(2, 10, 6)).shape == (2, 10)


def test_weak_head_shapes_and_eq5_eq6():
    torch.manual_seed(0)
    v, a = torch.randn(3, 10, 3, 3, 8), torch.randn(3, 10, 6)
    m = AVELocalizer(PSPConfig(**SMALL, weak=True)).eval()
    out = m(v, a)
    assert out["scores"].shape == (3, 10, 5) and out["video_prob"].shape == (3, 5) and out["weights"].shape == (3, 10)
    torch.testing.assert_close(out["video_prob"].sum(-1), torch.ones(3))
    assert ((out["weights"] > 0) & (out["weights"] < 1)).all()
    with torch.no_grad():  # W6 = 0 → φ = σ(0) = ½ on every segment: o = s(f_avg(½ f^h))
        m.weighting.weight.zero_()
        m.weighting.bias.zero_()
    out = m(v, a)
    torch.testing.assert_close(out["video_prob"], torch.softmax(0.5 * out["scores"].mean(1), -1))
    m6 = AVELocalizer(PSPConfig(**SMALL, weak=True, weighting=False)).eval()  # Eq. 6
    out = m6(v, a)
    assert m6.weighting is None and "weights" not in out
    torch.testing.assert_close(out["video_prob"], torch.softmax(out["scores"].mean(1), -1))


def test_avps_hand_worked():
    v = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    a = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [-1.0, -1.0]]])
    # cosines 1, 0, −1 → ReLU → [1, 0, 0] → ℓ1 → S = [1, 0, 0]
    torch.testing.assert_close(avps_similarity(v, a), torch.tensor([[1.0, 0.0, 0.0]]))
    event = torch.tensor([[True, True, False]])
    torch.testing.assert_close(avps_target(event), torch.tensor([[0.5, 0.5, 0.0]]))
    # MSE([1,0,0], [.5,.5,0]) = (.25 + .25 + 0) / 3
    torch.testing.assert_close(avps_loss(v, a, event), torch.tensor(1 / 6))
    # Eq. 10 with λ = 100
    scores, y = torch.zeros(1, 3, 4), torch.zeros(1, 3, dtype=torch.long)
    torch.testing.assert_close(fully_loss(scores, y, v, a, event), torch.tensor(math.log(4) + 100 / 6))
    torch.testing.assert_close(fully_loss(scores, y, v, a, event, lam=0), torch.tensor(math.log(4)))
    # identical features on an all-event video: S = G, zero loss
    x = torch.rand(2, 5, 3) + 0.1
    assert avps_loss(x, x, torch.ones(2, 5, dtype=torch.bool)).item() < 1e-12


def test_segment_ce_and_weak_labels():
    scores, y = torch.randn(2, 4, 3), torch.randint(0, 3, (2, 4))
    torch.testing.assert_close(segment_ce(scores, y), F.cross_entropy(scores.reshape(8, 3), y.reshape(8)))
    torch.testing.assert_close(weak_labels(torch.tensor([[0, 0, 2, 2, 2]]), 3), torch.tensor([[0.4, 0.0, 0.6]]))
    p = torch.tensor([[0.4, 0.0, 0.6]])
    assert weak_bce(p, p).item() < 0.5 and torch.isfinite(weak_bce(p, p))


def _toy_data(n=24, T=10, C=8, D=6, K=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, K + 1, (n, T), generator=g)
    visual = torch.randn(n, T, 7, 7, C, generator=g)  # 7×7: the official AVGA's 49 positions
    audio = torch.randn(n, T, D, generator=g)
    visual[..., 0] += labels[..., None, None].float()  # a learnable signal
    audio[..., 0] += labels.float()
    idx = torch.arange(n)
    return ex.Data(visual.half(), audio, labels, labels != K, weak_labels(labels, K + 1),
                   {"train": idx[:16], "val": idx[16:20], "test": idx[20:]}, [f"c{k}" for k in range(K)],
                   f"toy-{n}-{seed}", {})


def test_runner_train_or_load_grid_and_summary(tmp_path, monkeypatch):
    monkeypatch.setattr(avlib.train, "DEFAULT_CACHE", tmp_path)
    data = _toy_data()
    hp = ex.settings("smoke")
    _, r1 = ex.run(data, hp, "PSP", "full", seed=0, device="cpu")
    _, r2 = ex.run(data, hp, "PSP", "full", seed=0, device="cpu")
    assert not r1["cached"] and r2["cached"] and r1["test"] == r2["test"]
    assert 0 <= r1["test"] <= 1 and len(r1["val_curve"]) == hp["epochs"]
    rows = [{"variant": "PSP", "setting": "weak"}, {"variant": "AVEL", "setting": "weak", "weighting": False},
            {"variant": "PSP", "setting": "full", "tau": 0.115}]
    df = ex.grid(data, hp, rows, seeds=(0, 1), device="cpu", progress=False)
    assert len(df) == 6 and set(df.columns) >= {"variant", "setting", "seed", "val", "test"}
    s = summarize(df, ["setting", "variant"])
    assert list(s["count"]) == [2, 2, 2] and all("±" in x for x in s["mean ± std"])
    with pytest.raises(ValueError, match="variant"):
        ex.run(data, hp, "PSPP", "full")
    with pytest.raises(ValueError, match="setting"):
        ex.run(data, hp, "PSP", "semi")


def test_stage_features_and_silhouettes():
    data = _toy_data()
    model = AVELocalizer(ex.model_config(data, ex.settings("smoke"), "PSP", "full"))
    feats = ex.stage_features(model, data, data.splits["train"])
    assert feats[("visual", "CNN")].shape == (160, 8) and feats[("audio", "PSP")].shape[0] == 160
    sil = ex.silhouettes(feats, background=data.num_classes - 1)
    assert len(sil) == 6 and all(-1 <= s <= 1 for s in sil.values())
    # perfectly separated classes score near 1; background segments are left out
    y = np.repeat(np.arange(4), 5)
    x = np.eye(4)[y] + 0.01 * np.random.default_rng(0).standard_normal((20, 4))
    y[:2] = 9
    assert ex.silhouettes({("a", "x"): x, "labels": y}, background=9)[("a", "x")] > 0.9


def test_settings_scales():
    hp = ex.settings("paper")
    assert (hp["n"], hp["epochs"], hp["batch_size"], hp["lr"], hp["decay_every"]) == (4143, 300, 128, 1e-3, 60)
    assert len(ex.settings("book")["seeds"]) >= 3
    with pytest.raises(ValueError, match="scale"):
        ex.settings("huge")
    assert np.isclose(ex.PAPER["table1"]["full"]["PSP"], 77.8)


def test_official_code_options_are_named_and_change_what_they_say():
    """The PSP deviations from the official code are named options (PSPConfig): classifier dropout (official:
    none), the ℓ1 normaliser (official: x / (Σ + 1e-8)) and the init (official: xavier_uniform)."""
    from avlib.models.psp import AVELocalizer, PSPConfig, prune_connections
    beta = torch.tensor([[[2.0, 1.0, -1.0], [0.0, 0.0, 0.0]]])
    ours = prune_connections(beta, 0.0)
    official = prune_connections(beta, 0.0, l1_norm="official")
    torch.testing.assert_close(official[0, 0], torch.tensor([2.0, 1.0, 0.0]) / (3.0 + 1e-8) / (1.0 + 1e-8))
    torch.testing.assert_close(ours[0, 0], torch.tensor([2 / 3, 1 / 3, 0.0]))
    assert torch.equal(ours[0, 1], torch.zeros(3)) and torch.equal(official[0, 1], torch.zeros(3))
    m = AVELocalizer(PSPConfig(classifier_dropout=False))
    assert isinstance(m.classifier[2], torch.nn.Identity)
    assert isinstance(AVELocalizer(PSPConfig()).classifier[2], torch.nn.Dropout)
    torch.manual_seed(0)
    x = AVELocalizer(PSPConfig(init="xavier"))
    w = x.psp.w1v.weight
    bound = (6 / (w.shape[0] + w.shape[1])) ** 0.5
    assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound          # xavier_uniform's range, reached
    torch.manual_seed(0)
    d = AVELocalizer(PSPConfig())
    assert not torch.equal(d.psp.w1v.weight, w) and d.psp.w1v.weight.abs().max() <= (1 / w.shape[1]) ** 0.5
    with pytest.raises(ValueError, match="l1_norm"):
        PSPConfig(l1_norm="exact")
    with pytest.raises(ValueError, match="init"):
        PSPConfig(init="kaiming")


def test_stack_benchmark_compares_like_with_like():
    """benchmarks/psp_stack.py times a hand-written Bi-LSTM in place of nn.LSTM: with the same weights it gives
    nn.LSTM's outputs, and the stackable model keeps the runner's output shapes."""
    import importlib.util
    import sys
    from pathlib import Path
    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    sys.path.insert(0, str(bench))
    try:
        spec = importlib.util.spec_from_file_location("psp_stack", bench / "psp_stack.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(bench))
    assert mod.check_gates() < 1e-5
    cfg = PSPConfig(visual_dim=8, audio_dim=6, num_classes=5, d_in=4, d_model=6, att_hidden=4, n_positions=4)
    x_v, x_a = torch.randn(2, 10, 2, 2, 8), torch.randn(2, 10, 6)
    out, ref = mod.stackable(cfg)(x_v, x_a), AVELocalizer(cfg)(x_v, x_a)
    assert {k: v.shape for k, v in out.items()} == {k: v.shape for k, v in ref.items()}
    # what it times: two seeds stacked under vmap give each seed's own forward
    import copy
    from torch.func import functional_call, stack_module_state
    models = [mod.stackable(cfg).eval() for _ in range(2)]
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    stacked = torch.vmap(lambda p, b: functional_call(base, (p, b), (x_v, x_a))["scores"])(params, buffers)
    for i, m in enumerate(models):
        assert torch.allclose(stacked[i], m(x_v, x_a)["scores"], atol=1e-5)
    with pytest.raises(ValueError, match="self-attention"):
        mod.stackable(PSPConfig(**{**cfg.as_dict(), "self_attention": True}))
