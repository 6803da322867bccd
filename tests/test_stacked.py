"""Stacked seed training (avlib.stacked): a stack of seeds gives each seed the model it would have
trained alone; keyed dropout is a dropout; the stacked train-or-load caches each seed."""
import numpy as np
import pytest
import torch

from avlib.models.mil import MILNet, class_balanced_batches
from avlib.repro import seed_everything
from avlib.stacked import KeyedDropout, _fill_noise, fit_stacked, train_or_load_stacked

C, DV, N = 4, 12, 48


def _data():
    g = torch.Generator().manual_seed(0)
    visual, audio = torch.randn(N, 6, DV, generator=g), torch.randn(N, 5, 128, generator=g)
    labels = (torch.rand(N, C, generator=g) < 0.4).float()
    labels[torch.arange(N), torch.arange(N) % C] = 1.0
    return visual, audio, labels


def _build(seed, modality="av", stream="two_stream"):
    seed_everything(seed)
    return MILNet(C, DV, 128, modality=modality, stream=stream, visual_hidden=16, audio_hidden=8, dropout=0.5)


def _train(seeds, epochs=3, **kw):
    visual, audio, labels = _data()
    models = [_build(s, **kw) for s in seeds]

    def batches(seed, epoch):
        for idx in class_balanced_batches(labels.numpy(), 8, 4, seed * 1000 + epoch, step=10):
            yield visual[idx], audio[idx], labels[idx]

    def val(m):
        return float(-m.loss(m(visual[:16], audio[:16]), labels[:16]))

    hists = fit_stacked(models, seeds, batches, lambda f, b: models[0].loss(f(b[0], b[1]), b[2]), epochs=epochs,
                        lr=1e-2, val_fn=val, device="cpu", progress=False)
    return models, hists


@pytest.mark.parametrize("stream", ["two_stream", "wsddn"])
def test_a_stack_of_seeds_equals_each_seed_trained_alone(stream):
    modality = "visual" if stream == "wsddn" else "av"
    stacked, hists = _train([0, 1, 2], modality=modality, stream=stream)
    for i, seed in enumerate([0, 1, 2]):
        (alone,), (hist,) = _train([seed], modality=modality, stream=stream)
        assert hist.best_epoch == hists[i].best_epoch
        np.testing.assert_allclose(hist.loss, hists[i].loss, rtol=1e-5)
        np.testing.assert_allclose(hist.val, hists[i].val, rtol=1e-5)
        for k, v in alone.state_dict().items():
            torch.testing.assert_close(stacked[i].state_dict()[k], v, rtol=1e-5, atol=1e-6)
    # the seeds did train, and differently
    first = _build(0, modality=modality, stream=stream).state_dict()
    k = next(iter(first))
    assert not torch.equal(stacked[0].state_dict()[k], first[k])
    assert not torch.allclose(stacked[0].state_dict()[k], stacked[1].state_dict()[k])


def test_each_seed_keeps_its_best_validation_state():
    models, hists = _train([0, 1], epochs=4)
    for h in hists:
        assert len(h.loss) == len(h.val) == 4
        assert h.val[h.best_epoch] == max(h.val)


def test_unequal_batches_are_refused():
    model = _build(0)

    def batches(seed, epoch):
        n = 4 if seed == 0 else 5
        yield torch.randn(n, 6, DV), torch.randn(n, 5, 128), torch.ones(n, C)

    with pytest.raises(ValueError, match="equal shapes"):
        fit_stacked([model, _build(1)], [0, 1], batches, lambda f, b: model.loss(f(b[0], b[1]), b[2]), epochs=1,
                    device="cpu", progress=False)
    with pytest.raises(ValueError, match="one model per seed"):
        fit_stacked([model], [0, 1], batches, lambda f, b: 0, epochs=1, device="cpu", progress=False)


def test_keyed_dropout_is_a_dropout():
    drop = KeyedDropout(0.3).train()
    drop.keyed = True
    x = torch.ones(200, 500)
    drop.noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(0))
    y = drop(x)
    kept = y != 0
    assert torch.equal(kept, drop.noise >= 0.3)
    assert abs(kept.double().mean().item() - 0.7) < 0.005
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / 0.7))
    with pytest.raises(RuntimeError, match="dropout noise of shape"):
        drop(torch.ones(3, 4))
    assert drop(torch.ones(3, 4, device="meta")).device.type == "meta" and drop.shape == (3, 4)   # the probe
    assert torch.equal(drop.eval()(x), x)
    free = KeyedDropout(0.5).train()                                # not keyed: torch's dropout
    torch.manual_seed(3)
    a = free(x)
    torch.manual_seed(3)
    torch.testing.assert_close(a, torch.nn.functional.dropout(x, 0.5, True))
    with pytest.raises(ValueError, match="dropout probability"):
        KeyedDropout(1.0)
    assert "noise" not in KeyedDropout(0.5).state_dict()           # cached models carry no noise


def test_each_seed_draws_its_own_dropout_noise_every_step():
    model = torch.nn.Sequential(torch.nn.Linear(3, 50), KeyedDropout(0.5), torch.nn.Linear(50, 2), KeyedDropout(0.5))
    base = model.to("meta").train()
    for m in (base[1], base[3]):
        m.keyed = True
    buffers = {}

    def draw(seeds):
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        steps = []
        for _ in range(2):
            _fill_noise(base, ["1", "3"], buffers, lambda f, b: f(b[0]).sum(), (torch.ones(4, 3),), gens, "cpu")
            steps.append({k: v.clone() for k, v in buffers.items()})
        return steps

    pair, alone = draw([7, 8]), draw([8])
    assert pair[0]["1.noise"].shape == (2, 4, 50) and pair[0]["3.noise"].shape == (2, 4, 2)
    assert not torch.equal(pair[0]["1.noise"][0], pair[0]["1.noise"][1])      # seeds differ
    assert not torch.equal(pair[0]["1.noise"], pair[1]["1.noise"])            # steps differ
    for step in range(2):                                                     # seed 8 as if alone
        for k in ("1.noise", "3.noise"):
            assert torch.equal(pair[step][k][1], alone[step][k][0])


def test_stacked_train_or_load_trains_the_missing_seeds_together_and_caches_each(tmp_path):
    calls = []

    def train(models, seeds):
        calls.append(list(seeds))
        for m in models:
            with torch.no_grad():
                next(m.parameters()).add_(1.0)
        return [{"seed": s} for s in seeds]

    build = lambda: torch.nn.Linear(3, 2)   # noqa: E731
    out = train_or_load_stacked("lin", {0: {"a": 1, "seed": 0}, 1: {"a": 1, "seed": 1}}, build, train,
                                cache_dir=tmp_path, modules=("stacked.py",))
    assert calls == [[0, 1]] and [r for _, r, _ in out.values()] == [{"seed": 0}, {"seed": 1}]
    again = train_or_load_stacked("lin", {1: {"a": 1, "seed": 1}, 2: {"a": 1, "seed": 2}}, build, train,
                                  cache_dir=tmp_path, modules=("stacked.py",))
    assert calls == [[0, 1], [2]]                                   # seed 1 came from the cache
    assert list(again) == [1, 2] and again[1][2] and not again[2][2]
    torch.testing.assert_close(again[1][0].weight, out[1][0].weight)
    seed_everything(1)
    assert not torch.allclose(again[1][0].weight, build().weight)   # the trained weights, not a fresh init
