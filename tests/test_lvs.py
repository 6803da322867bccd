"""LVS network, tri-map and loss (avlib.models.lvs) and the ResNet-18 streams (avlib.models.resnet)."""
import math

import pytest
import torch
import torch.nn.functional as F

from avlib.models.lvs import (METHODS, LVSLossConfig, correspondence, feature_lvs, lvs_logits, lvs_loss,
                              method_config, resnet_lvs, soft_threshold, trimap)
from avlib.models.resnet import AudioResNet18, VisualResNet18


def test_resnet_streams_shapes_and_torchvision_names():
    import torchvision
    v = VisualResNet18(64)
    ref = torchvision.models.resnet18().state_dict()
    assert all(k in ref and ref[k].shape == p.shape for k, p in v.state_dict().items())
    assert v(torch.zeros(1, 3, 224, 224)).shape == (1, 512, 14, 14)          # layer4 stride removed
    assert VisualResNet18(8)(torch.zeros(2, 3, 112, 112)).shape == (2, 64, 7, 7)
    assert VisualResNet18(8, layer3_stride=1)(torch.zeros(2, 3, 112, 112)).shape == (2, 64, 14, 14)
    a = AudioResNet18(8)
    assert a(torch.randn(2, 16000)).shape == (2, 64)                       # waveform → log-mel → max pool
    assert a(torch.randn(2, 1, 257, 300)).shape == (2, 64)                 # the paper's spectrogram size
    with pytest.raises(ValueError):
        VisualResNet18(0)


def test_correspondence_is_cosine():
    V = F.normalize(torch.randn(3, 4, 2, 2), dim=1)
    A = F.normalize(torch.randn(3, 4), dim=1)
    S = correspondence(A, V)
    assert S.shape == (3, 3, 2, 2)
    assert torch.allclose(S[1, 2, 0, 1], F.cosine_similarity(A[1], V[2, :, 0, 1], dim=0), atol=1e-6)
    assert S.abs().max() <= 1 + 1e-6


def test_trimap_masks():
    S = torch.tensor([[0.9, 0.65, 0.5], [0.4, 0.1, -0.5]])
    pos, neg = trimap(S, 0.65, 0.4, 0.03)
    assert pos[0, 0] > 0.99 and pos[0, 1] == pytest.approx(0.5) and pos[1, 1] < 1e-6
    assert neg[1, 1] > 0.99 and neg[1, 0] == pytest.approx(0.5) and neg[0, 0] < 1e-6
    # the ignore zone: 0.52, midway, is neither positive nor negative
    p, n = trimap(torch.tensor(0.525), 0.65, 0.4, 0.03)
    assert p < 0.02 and n < 0.02
    # a small τ approaches the Heaviside step of the unsmoothed pseudo-mask
    assert torch.equal(soft_threshold(S, 0.45, 1e-4).round(), (S > 0.45).float())
    with pytest.raises(ValueError):
        LVSLossConfig(eps_p=0.3, eps_n=0.4)


def test_methods_are_settings_of_one_loss():
    assert set(METHODS) == {"lvs", "no_trimap", "no_hard_negatives", "attention10k"}
    assert method_config("lvs", eps_p=0.8).eps_p == 0.8
    with pytest.raises(ValueError):
        method_config("coarse_to_fine")
    B = 4
    S = torch.rand(B, B, 3, 3) * 2 - 1
    assert lvs_logits(S, METHODS["lvs"]).shape == (B, B + 1)                 # P, B-1 others, own negative
    assert lvs_logits(S, METHODS["no_hard_negatives"]).shape == (B, B)
    assert lvs_logits(S, METHODS["attention10k"]).shape == (B, B)
    # the positive logit is a soft-max-like pooling of the own map: between its mean and max
    pos = lvs_logits(S, METHODS["lvs"])[:, 0] * 0.07
    own = S[torch.arange(B), torch.arange(B)].flatten(1)
    assert (pos <= own.max(1).values + 1e-6).all() and (pos >= own.mean(1) - 1e-6).all()


def _separated(B=4, D=8, h=3):
    """Each clip's audio matches one location of its own image; everything else is orthogonal."""
    A = torch.eye(D)[:B]
    V = torch.zeros(B, D, h, h)
    V[:, D - 1] = 1.0                                  # background direction, orthogonal to every audio
    for i in range(B):
        V[i, :, 0, 0] = A[i]
    return F.normalize(V, dim=1), A


@pytest.mark.parametrize("method", sorted(METHODS))
def test_separated_batch_beats_shuffled(method):
    V, A = _separated()
    cfg = METHODS[method]
    good = lvs_loss(V, A, cfg)
    bad = lvs_loss(V, A[torch.tensor([1, 2, 3, 0])], cfg)
    assert torch.isfinite(good) and good < bad


def test_loss_gradients_flow_through_both_streams():
    torch.manual_seed(0)
    model = feature_lvs(16, 12, 8)
    v, a = torch.randn(5, 16, 4, 4), torch.randn(5, 12)
    for cfg in METHODS.values():
        model.zero_grad()
        loss = lvs_loss(*model(v, a), cfg)
        loss.backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
        assert model.v_head[0].weight.grad.abs().sum() > 0 and model.a_head[0].weight.grad.abs().sum() > 0
    # uniform logits give log(#logits): a sanity reference
    V = F.normalize(torch.ones(3, 4, 2, 2), dim=1)
    A = F.normalize(torch.ones(3, 4), dim=1)
    assert lvs_loss(V, A, METHODS["no_hard_negatives"]).item() == pytest.approx(math.log(3), abs=1e-5)


def test_resnet_lvs_trains_one_step():
    torch.manual_seed(0)
    model = resnet_lvs(width=4, layer3_stride=1)
    img, spec = torch.randn(3, 3, 64, 64), torch.randn(3, 1, 64, 51)
    V, A = model(img, spec)
    assert V.shape == (3, 32, 8, 8) and A.shape == (3, 32)
    loss = lvs_loss(V, A)
    loss.backward()
    assert model.visual.conv1.weight.grad.abs().sum() > 0 and model.audio.conv1.weight.grad.abs().sum() > 0


def _official_logits(V, A, eps_p=0.65, eps_n=0.4, tau=0.03):
    """The official AVENet.forward (hche11/Localizing-Visual-Sounds-the-Hard-Way, model.py), transcribed."""
    B = V.shape[0]
    mask = 1 - 100 * torch.eye(B, dtype=V.dtype)
    Aown = torch.einsum("ncqa,nchw->nqa", V, A[:, :, None, None]).unsqueeze(1)
    A0 = torch.einsum("ncqa,ckhw->nkqa", V, A.T[:, :, None, None])
    Pos, Neg = torch.sigmoid((Aown - eps_p) / tau), 1 - torch.sigmoid((Aown - eps_n) / tau)
    Pos_all = torch.sigmoid((A0 - eps_p) / tau)
    sim1 = (Pos * Aown).flatten(2).sum(-1) / Pos.flatten(2).sum(-1)
    sim = (Pos_all * A0).flatten(2).sum(-1) / Pos_all.flatten(2).sum(-1) * mask
    sim2 = (Neg * Aown).flatten(2).sum(-1) / Neg.flatten(2).sum(-1)
    return torch.cat((sim1, sim, sim2), 1) / 0.07


def test_logits_match_the_official_code():
    torch.manual_seed(0)
    V = F.normalize(torch.randn(4, 6, 3, 3, dtype=torch.float64), dim=1)
    A = F.normalize(V[:, :, 1, 1] + 0.3 * torch.randn(4, 6, dtype=torch.float64), dim=1)
    want = _official_logits(V, A)
    got = lvs_logits(correspondence(A, V), LVSLossConfig(self_pair="times_minus_99"))
    torch.testing.assert_close(got, want)
    # the default masks the own pair out: the same logits without the −99 column
    got = lvs_logits(correspondence(A, V), LVSLossConfig())
    for i in range(4):
        cols = [0] + [1 + j for j in range(4) if j != i] + [5]
        torch.testing.assert_close(got[i], want[i, cols])
    # the paper's orientation (audio i vs other images) is the transpose: it differs
    paper = lvs_logits(correspondence(A, V), LVSLossConfig(other_orientation="audio", self_pair="times_minus_99"))
    assert not torch.allclose(paper, want)
    mask = 1 - 100 * torch.eye(4, dtype=V.dtype)
    torch.testing.assert_close(paper[:, 1:5], (want[:, 1:5] / mask).T * mask)


def test_other_clip_orientation_hand_worked():
    # 1×1 maps: every pooling is the value itself; S[a, v] = audio a with image v (asymmetric)
    S = torch.tensor([[0.9, 0.1, 0.2], [0.3, 0.8, 0.4], [0.5, 0.6, 0.7]])[:, :, None, None]
    cfg = dict(hard_negatives=False, temperature=1.0)
    official = lvs_logits(S, LVSLossConfig(**cfg))                           # image i vs audio j ≠ i
    paper = lvs_logits(S, LVSLossConfig(other_orientation="audio", **cfg))    # audio i vs image j ≠ i
    torch.testing.assert_close(official, torch.tensor([[0.9, 0.3, 0.5], [0.8, 0.1, 0.6], [0.7, 0.2, 0.4]]))
    torch.testing.assert_close(paper, torch.tensor([[0.9, 0.1, 0.2], [0.8, 0.3, 0.4], [0.7, 0.5, 0.6]]))
    # the official self-pair handling: all B columns, the own pair × (−99)
    x99 = lvs_logits(S, LVSLossConfig(self_pair="times_minus_99", **cfg))
    torch.testing.assert_close(x99, torch.tensor([[0.9, -99 * 0.9, 0.3, 0.5], [0.8, 0.1, -99 * 0.8, 0.6],
                                                  [0.7, 0.2, 0.4, -99 * 0.7]]))
    with pytest.raises(ValueError, match="other_orientation"):
        LVSLossConfig(other_orientation="both")
    with pytest.raises(ValueError, match="self_pair"):
        LVSLossConfig(self_pair="zero")


def test_stable_when_all_similarities_are_low():
    S = -torch.ones(2, 2, 3, 3)                        # every sigmoid weight ≈ 1e-24
    logits = lvs_logits(S, METHODS["lvs"])
    assert torch.isfinite(logits).all()


def test_paper_backbone_runs_end_to_end(tmp_path, monkeypatch):
    """The `paper` scale's path (ResNet-18 streams on frames and log-mels) on a tiny world split."""
    from avlib.experiments import lvs as X
    cfg = X.settings("smoke")
    cfg.update(backbone="resnet18", width=4, dim=None, steps=1, batch_size=4)
    train = X.world_split("train", 8, cfg, cache_dir=tmp_path)
    test = X.world_split("flickr", 4, cfg, cache_dir=tmp_path)
    assert train["visual"].dtype == torch.uint8 and train["audio"].shape[1:] == (1, 64, 101)
    assert test["gt"].shape == (4, 112, 112) and float(test["gt"].max()) == 1.0
    import avlib.train as T
    monkeypatch.setattr(T, "DEFAULT_CACHE", tmp_path)       # keep the trained model out of data/cache
    val = X.world_split("val", 4, cfg, cache_dir=tmp_path)   # the model kept is the best validation step's
    df = X.run_grid([{"method": "lvs", "train": "train", "seed": 0, "tests": ["flickr"]}],
                    {"train": train, "flickr": test, "val": val}, cfg, torch.device("cpu"))
    assert len(df) == 1 and 0 <= df.ciou[0] <= 1 and 0 <= df.auc[0] <= 1 and df.best_step[0] >= 1


def test_learning_curve_is_recorded_without_changing_training(tmp_path, monkeypatch):
    """train_one with a validation split records cIoU every val_every steps and at the last, and trains
    exactly the model it trains without one (the curve draws no random numbers)."""
    from avlib.experiments import lvs as X
    import avlib.train as T
    monkeypatch.setattr(T, "DEFAULT_CACHE", tmp_path)
    cfg = X.settings("smoke")
    cfg.update(backbone="resnet18", width=4, dim=None, steps=5, val_every=4, batch_size=8,   # no encoders needed
               selection="last")
    train = X.world_split("train", 16, cfg, cache_dir=tmp_path)
    val = X.world_split("val", 8, cfg, cache_dir=tmp_path)
    assert "gt" in val and val["key"] != train["key"]
    with_curve, res = X.train_one("lvs", train, 0, cfg, torch.device("cpu"), val=val)
    plain, res0 = X.train_one("lvs", train, 0, cfg, torch.device("cpu"))
    assert [s for s, _ in res["val_ciou"]] == [4, 6] and res0["val_ciou"] == []   # 3 epochs of 2 steps
    assert all(0.0 <= c <= 1.0 for _, c in res["val_ciou"])
    for k, v in plain.state_dict().items():
        assert torch.equal(v, with_curve.state_dict()[k]), k
    df = X.run_grid([{"method": "lvs", "train": "train", "seed": 0, "tests": ["val"]}], {"train": train, "val": val},
                    cfg, torch.device("cpu"), val=val)
    assert df.val_ciou[0] == res["val_ciou"]                 # loaded from the cache with its curve


def test_selection_keeps_the_best_validation_step(tmp_path, monkeypatch):
    """selection="val" (the default) returns the weights of the recorded step with the best validation
    cIoU — the first on ties — not the last step's; without a val split it says what it needs."""
    from avlib.experiments import lvs as X
    from avlib.metrics.localization import evaluate_maps
    import avlib.train as T
    monkeypatch.setattr(T, "DEFAULT_CACHE", tmp_path)
    cfg = X.settings("smoke")
    assert cfg["selection"] == X.settings("book")["selection"] == "val"
    cfg.update(backbone="resnet18", width=4, dim=None, steps=12, val_every=2, batch_size=8, lr=3e-2)
    train = X.world_split("train", 16, cfg, cache_dir=tmp_path)
    val = X.world_split("val", 8, cfg, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="val split"):
        X.train_one("lvs", train, 0, cfg, torch.device("cpu"))
    model, res = X.train_one("lvs", train, 0, cfg, torch.device("cpu"), val=val)
    steps, cious = zip(*res["val_ciou"])
    first_best = steps[cious.index(max(cious))]
    assert res["best_step"] == first_best
    model.eval()
    with torch.no_grad():
        assert evaluate_maps(X.predict(model, val, cfg), val["gt"].numpy(), rule="median")["ciou"] == pytest.approx(max(cious))
    last, _ = X.train_one("lvs", train, 0, {**cfg, "selection": "last"}, torch.device("cpu"), val=val)
    differs = any(not torch.equal(v, last.state_dict()[k]) for k, v in model.state_dict().items())
    assert differs == (first_best != steps[-1])
    cfg["selection"] = "best"
    with pytest.raises(ValueError, match="unknown selection"):
        X.train_one("lvs", train, 0, cfg, torch.device("cpu"), val=val)
