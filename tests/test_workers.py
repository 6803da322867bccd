"""avlib.workers: a grid in forked worker processes gives the sequential numbers, bit for bit."""
import pandas as pd
import pytest
import torch

import avlib.train
from avlib.experiments import psp as ex
from avlib.repro import seed_everything, torch_threads
from avlib.workers import default_workers, run_jobs
from test_psp import _toy_data   # pytest puts tests/ on the path


def _train_toy(seed: int) -> dict:
    """A seeded little regression, trained on one thread: its weights and loss curve."""
    torch.set_num_threads(1)
    seed_everything(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    x = torch.randn(64, 6)
    y = x.sum(1, keepdim=True).sin()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {"losses": losses, "weights": [p.detach().clone() for p in model.parameters()]}


def test_run_jobs_equals_sequential_bitwise():
    with torch_threads(2):   # the parent has used a thread pool before it forks
        torch.randn(256, 256) @ torch.randn(256, 256)
    seeds = [3, 1, 4, 1, 5]
    one = run_jobs(_train_toy, seeds, workers=1, progress=False)
    two = run_jobs(_train_toy, seeds, workers=2, progress=False)
    assert len(two) == len(seeds)
    for a, b in zip(one, two):
        assert a["losses"] == b["losses"]
        assert all(torch.equal(p, q) for p, q in zip(a["weights"], b["weights"]))
    assert one[1]["losses"] == one[3]["losses"] and one[0]["losses"] != one[1]["losses"]   # in order, seeded


def _fails_on_three(job):
    if job == 3:
        raise ValueError(f"job {job} failed")
    return job * 2


def test_run_jobs_errors_are_raised_here():
    assert run_jobs(_fails_on_three, [1, 2], workers=2, progress=False) == [2, 4]
    with pytest.raises(ValueError, match="job 3 failed"):
        run_jobs(_fails_on_three, [1, 2, 3, 4], workers=2, progress=False)
    with pytest.raises(ValueError, match="at least 1"):
        run_jobs(_fails_on_three, [1], workers=0)
    assert default_workers("cpu") >= 1


def test_psp_grid_in_workers_equals_sequential(tmp_path, monkeypatch):
    data, hp = _toy_data(), ex.settings("smoke")
    # the third row is the first one under another name (τ = 0.095 is PSP's default): one model, loaded once more
    rows = [{"variant": "PSP", "setting": "full"}, {"variant": "AVEL", "setting": "weak", "weighting": False},
            {"variant": "PSP", "setting": "full", "tau": 0.095}]
    frames = {}
    for workers in (1, 2):
        monkeypatch.setattr(avlib.train, "DEFAULT_CACHE", tmp_path / f"w{workers}")
        frames[workers] = ex.grid(data, hp, rows, seeds=(0, 1), device="cpu", progress=False, workers=workers)
        assert len(list((tmp_path / f"w{workers}").glob("*.pt"))) == 4   # the duplicate row trained no fifth model
    pd.testing.assert_frame_equal(frames[1], frames[2])
    assert list(frames[2].cached) == [False, False, False, False, True, True]
    again = ex.grid(data, hp, rows, seeds=(0, 1), device="cpu", progress=False, workers=2)
    assert again.cached.all() and again.test.equals(frames[2].test)


def test_dsol_run_rows_in_workers_keeps_records_and_cache_counts(monkeypatch):
    from avlib.experiments import dsol as X

    def fake_run(seed, lam=1.0, device=None):
        X._count(seed % 2 == 0)          # what run_dsol does per stage: count a load or a training
        return {"seed": seed, "score": lam * seed + _train_toy(seed)["losses"][-1], "val_curve": [[0, 0.5]]}

    rows = {"a": {}, "b": {"lam": 2.0}}
    out = {}
    for workers in (1, 2):
        monkeypatch.setattr(X, "CACHE_STATS", {"trained": 0, "loaded": 0})
        out[workers] = X.run_rows(rows, [0, 1, 3], fake_run, device="cpu", workers=workers)
        assert X.CACHE_STATS == {"trained": 4, "loaded": 2}
    pd.testing.assert_frame_equal(out[1], out[2])
    assert list(out[2].columns) == ["row", "seed", "score"] and list(out[2].row) == ["a"] * 3 + ["b"] * 3
    # one job with two workers runs in this process: counted once, not twice
    monkeypatch.setattr(X, "CACHE_STATS", {"trained": 5, "loaded": 1})
    X.run_rows({"a": {}}, [1], fake_run, device="cpu", workers=2)
    assert X.CACHE_STATS == {"trained": 6, "loaded": 1}
