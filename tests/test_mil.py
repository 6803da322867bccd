"""Parekh et al. (2018): two-stream scores, losses, pooling, proposals, sampler and DCASE metrics."""
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, precision_score, recall_score

from avlib.metrics.multilabel import (apply_thresholds, best_threshold, evaluate_tagging, micro_prf, per_class_f1,
                                      tune_thresholds)
from avlib.models.mil import (MILNet, ProposalScorer, binary_log_loss, class_balanced_batches, lse_pool,
                              multilabel_hinge)
from avlib.proposals import (audio_window_times, audio_windows, box_iou_matrix, edge_box_proposals,
                             num_audio_windows, proposal_recall, window_grid, window_truth)


def _scorer(stream, W_cls, W_loc=None):
    s = ProposalScorer(W_cls.shape[1], W_cls.shape[0], stream)
    with torch.no_grad():
        s.cls.weight.copy_(W_cls)
        s.cls.bias.zero_()
        if W_loc is not None:
            s.loc.weight.copy_(W_loc)
            s.loc.bias.zero_()
    return s


def test_two_stream_scores_hand_worked():
    # 2 proposals, 2 classes, identity features: A = Z, B = Z·2
    Z = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    s = _scorer("two_stream", torch.eye(2), 2 * torch.eye(2))
    score, D = s(Z)
    # softmax over PROPOSALS (dim 1) per class: class 0 → [e²/(e²+1), 1/(e²+1)]
    w = math.exp(2) / (math.exp(2) + 1)
    expected_D = torch.tensor([[[1 * w, 0 * (1 - w)], [0 * (1 - w), 1 * w]]])
    assert torch.allclose(D, expected_D, atol=1e-6)
    assert torch.allclose(score, torch.tensor([[w, w]]), atol=1e-6)
    # a softmax over classes would have given 0.881·1 too, so check a case that tells them apart
    Z = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])        # two identical proposals
    score, D = s(Z)
    # over proposals: each gets 1/2 for each class; A = [[1,0],[1,0]] → class 0 score = 1, class 1 = 0
    assert torch.allclose(score, torch.tensor([[1.0, 0.0]]), atol=1e-6)
    assert torch.allclose(D.sum(2), torch.tensor([[0.5, 0.5]]), atol=1e-6)


def test_localization_softmax_sums_to_one_over_proposals():
    torch.manual_seed(0)
    s = ProposalScorer(8, 5, "two_stream")
    z = torch.randn(3, 7, 8)
    sig = torch.softmax(s.loc(z), dim=1)
    assert torch.allclose(sig.sum(1), torch.ones(3, 5), atol=1e-6)
    score, D = s(z)
    assert torch.allclose(D, s.cls(z) * sig, atol=1e-6)
    assert torch.allclose(score, D.sum(1), atol=1e-6)


def test_wsddn_scores_in_unit_interval():
    torch.manual_seed(0)
    score, D = ProposalScorer(8, 5, "wsddn")(torch.randn(4, 6, 8) * 5)
    assert (score >= 0).all() and (score <= 1 + 1e-6).all()


def test_lse_pooling():
    a = torch.tensor([[[1.0], [3.0], [2.0]]])
    r = 2.0
    expected = math.log((math.exp(2) + math.exp(6) + math.exp(4)) / 3) / r
    assert lse_pool(a, r).item() == pytest.approx(expected)
    assert a.mean() <= lse_pool(a, r) <= a.max()
    assert lse_pool(a, 200.0).item() == pytest.approx(3.0, abs=0.01)   # → max
    assert lse_pool(a, 1e-4).item() == pytest.approx(2.0, abs=1e-3)   # → mean
    score, D = _scorer("one_stream", torch.eye(1))(a)
    assert score.item() == pytest.approx(math.log((math.e ** 5 + math.e ** 15 + math.e ** 10) / 3) / 5, rel=1e-5)


def test_hinge_loss_eq2():
    phi = torch.tensor([[2.0, -0.5], [0.2, -3.0]])
    labels = torch.tensor([[1, 0], [1, 1]])
    # y = [[1,-1],[1,1]] → terms max(0, 1-2)=0, max(0, 1-0.5)=0.5, max(0, 1-0.2)=0.8, max(0, 1+3)=4
    assert multilabel_hinge(phi, labels).item() == pytest.approx((0 + 0.5 + 0.8 + 4) / 4)


def test_binary_log_loss():
    p = torch.tensor([[0.9, 0.2]])
    assert binary_log_loss(p, torch.tensor([[1, 0]])).item() == pytest.approx(-(math.log(0.9) + math.log(0.8)) / 2,
                                                                               rel=1e-5)


@pytest.mark.parametrize("modality,stream", [("av", "two_stream"), ("audio", "two_stream"), ("visual", "two_stream"),
                                             ("visual", "wsddn"), ("av", "one_stream")])
def test_milnet_settings_shapes_and_gradients(modality, stream):
    torch.manual_seed(0)
    net = MILNet(5, 12, 128, modality=modality, stream=stream, visual_hidden=16)
    v, a = torch.randn(3, 20, 12), torch.randn(3, 20, 128)
    out = net(v, a)
    assert out["score"].shape == (3, 5)
    if modality == "av" and stream != "wsddn":
        # l2-normalised per-modality scores, added
        import torch.nn.functional as F
        fused = F.normalize(out["visual_score"], dim=-1) + F.normalize(out["audio_score"], dim=-1)
        assert torch.allclose(out["score"], fused, atol=1e-6)
    loss = net.loss(out, torch.randint(0, 2, (3, 5)))
    loss.backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)
    assert net.loss_name == ("binary_log_loss" if stream == "wsddn" else "multilabel_hinge")


def test_milnet_bad_settings():
    with pytest.raises(ValueError, match="modality"):
        MILNet(5, 12, modality="both")
    with pytest.raises(ValueError, match="stream"):
        MILNet(5, 12, stream="three")
    with pytest.raises(ValueError, match="WSDDN"):
        MILNet(5, 12, modality="av", stream="wsddn")


def test_audio_proposals_20_windows_for_10s():
    assert num_audio_windows(10.0) == 20
    t = audio_window_times(10.0)
    assert t.shape == (20, 2)
    assert np.allclose(t[:, 1] - t[:, 0], 0.96) and np.allclose(np.diff(t[:, 0]), 0.48)
    assert t[0, 0] == 0 and t[-1, 0] == pytest.approx(9.12)
    w = audio_windows(np.zeros(160000, np.float32))
    assert w.shape == (20, 1, 64, 96)
    # a tone in second 3 only: the windows holding it are louder
    wave = np.zeros(160000, np.float32)
    wave[48000:64000] = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)
    energy = audio_windows(wave).mean((1, 2, 3))
    loud = set(np.flatnonzero(energy > energy.min() + 0.5 * (energy.max() - energy.min())).tolist())
    assert loud <= {4, 5, 6, 7} and {6} <= loud   # windows starting 1.92…3.36 s overlap [3, 4)
    on = np.zeros((10, 2), bool)
    on[3, 1] = True
    assert np.flatnonzero(window_truth(on, t)[:, 1]).tolist() == [6, 7]   # centres 0.48k + 0.48: 3.36, 3.84


def test_visual_proposals_find_a_square():
    frames = np.full((2, 112, 112, 3), 120, np.uint8)
    frames[0, 30:70, 40:80] = (230, 40, 40)
    frames[1, 10:40, 60:100] = (20, 200, 20)
    boxes, scores = edge_box_proposals(frames, m_img=5)
    assert boxes.shape == (2, 5, 4) and scores.shape == (2, 5)
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    objects = [[{"box": (40, 30, 80, 70)}], [{"box": (60, 10, 100, 40)}]]
    assert proposal_recall(boxes, objects) == 1.0
    assert len(window_grid(112)) > 1000


def test_box_iou_matrix():
    iou = box_iou_matrix([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    assert np.allclose(iou, [[1.0, 50 / 150, 0.0]])


def test_class_balanced_batches_hold_rare_classes():
    rng = np.random.default_rng(0)
    y = np.zeros((1000, 4), int)
    y[:900, 0] = 1
    y[900:960, 1] = 1
    y[960:990, 2] = 1
    y[990:, 3] = 1
    batches = list(class_balanced_batches(y, batch_size=12, num_batches=50, seed=0, step=100))
    assert len(batches) == 50 and all(len(b) == 12 for b in batches)
    frac = y[np.concatenate(batches)].mean(0)
    assert frac[3] > 0.05 > y[:, 3].mean()           # rare class oversampled
    assert frac[0] < 0.9                               # frequent class capped
    assert rng is not None


def test_micro_f1_matches_sklearn_on_random_data():
    rng = np.random.default_rng(0)
    y = rng.random((200, 17)) < 0.15
    pred = rng.random((200, 17)) < 0.2
    m = micro_prf(pred, y)
    assert m["f1"] == pytest.approx(f1_score(y, pred, average="micro"))
    assert m["precision"] == pytest.approx(precision_score(y, pred, average="micro"))
    assert m["recall"] == pytest.approx(recall_score(y, pred, average="micro"))
    assert np.allclose(per_class_f1(pred, y), f1_score(y, pred, average=None, zero_division=0))


def test_every_clip_counts_even_if_never_predicted():
    y = np.array([[1, 0], [0, 1], [1, 1]])
    pred = np.array([[1, 0], [0, 0], [0, 0]])      # clips 2 and 3 never predicted
    m = micro_prf(pred, y)
    assert (m["tp"], m["fp"], m["fn"]) == (1, 0, 3)   # the official script would count fn = 0
    assert m["f1"] == pytest.approx(2 / 5)


def test_threshold_tuning_is_optimal_per_class():
    rng = np.random.default_rng(1)
    y = rng.random((80, 5)) < 0.3
    scores = y * 0.4 + rng.random((80, 5))
    thr = tune_thresholds(scores, y)
    for c in range(5):
        tuned = f1_score(y[:, c], scores[:, c] >= thr[c])
        brute = max(f1_score(y[:, c], scores[:, c] >= t, zero_division=0) for t in np.r_[scores[:, c], np.inf])
        assert tuned == pytest.approx(brute)
    assert best_threshold([0.1, 0.9, 0.5], [0, 1, 1]) == pytest.approx((0.3, 1.0))
    assert best_threshold([0.1, 0.2], [0, 0])[0] > 0.2       # no positives: predict nothing


def test_evaluate_tagging_tunes_on_val_applies_to_test():
    rng = np.random.default_rng(2)
    yv, yt = rng.random((60, 4)) < 0.3, rng.random((50, 4)) < 0.3
    sv, st = yv + rng.normal(0, .4, yv.shape), yt + rng.normal(0, .4, yt.shape)
    out = evaluate_tagging(sv, yv, st, yt)
    pred = apply_thresholds(st, tune_thresholds(sv, yv))
    assert out["f1"] == pytest.approx(f1_score(yt, pred, average="micro"))
    assert len(out["per_class_f1"]) == 4
    with pytest.raises(ValueError, match="shape"):
        micro_prf(np.zeros((3, 2)), np.zeros((3, 3)))
