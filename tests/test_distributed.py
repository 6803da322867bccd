"""avlib.distributed: DistributedSampler-style sharding and a two-process DDP run on the CPU (gloo)."""
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from torch.utils.data import DistributedSampler

from avlib import distributed as D

STEPS, BATCH, N = 5, 8, 40


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, 6, generator=g)
    return x, x @ torch.randn(6, 1, generator=g) + 0.1 * torch.randn(N, 1, generator=g)


def _model():
    torch.manual_seed(0)  # same initial weights on every rank (DDP also broadcasts rank 0's)
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def _worker(rank: int, world: int, port: int, out_dir: str):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    info = D.init_from_env("cpu")
    assert info.backend == "gloo" and info.rank == rank and info.world_size == world
    x, y = _data()
    idx = D.shard_indices(N, shuffle=True, seed=3)  # this rank's rows (disjoint across ranks)
    model = D.wrap_model(_model(), info.device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(STEPS):
        b = idx[step * BATCH % len(idx):][:BATCH]
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x[b]), y[b]).backward()  # DDP averages the gradients
        opt.step()
    torch.save({"state": D.unwrap(model).state_dict(), "idx": idx}, os.path.join(out_dir, f"rank{rank}.pt"))
    D.cleanup()


def test_shard_indices_match_distributed_sampler():
    for n, world, shuffle, drop_last in [(10, 3, False, False), (10, 3, True, False), (10, 4, True, True),
                                         (2, 5, False, False), (41, 2, True, False)]:
        shards = []
        for r in range(world):
            ref = list(DistributedSampler(range(n), num_replicas=world, rank=r, shuffle=shuffle, seed=7,
                                          drop_last=drop_last))
            got = D.shard_indices(n, r, world, shuffle=shuffle, seed=7, drop_last=drop_last).tolist()
            assert got == ref, (n, world, r, shuffle, drop_last)
            shards.append(got)
        assert len({len(s) for s in shards}) == 1  # equal shard sizes keep DDP in step
    with pytest.raises(ValueError, match="rank"):
        D.shard_indices(10, 2, 2)


def test_single_process_fallback(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    info = D.init_from_env(torch.device("cpu"))
    assert (info.rank, info.world_size, info.backend) == (0, 1, None) and info.is_main
    m = torch.nn.Linear(2, 1)
    assert D.wrap_model(m, "cpu") is m and D.unwrap(m) is m
    assert D.shard_indices(5).tolist() == [0, 1, 2, 3, 4]


def test_two_gloo_ranks_train_to_identical_weights(tmp_path):
    world = 2
    mp.start_processes(_worker, args=(world, _free_port(), str(tmp_path)), nprocs=world, join=True,
                       start_method="spawn")
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(world))
    assert set(r0["idx"].tolist()).isdisjoint(r1["idx"].tolist())  # different shards
    for k in r0["state"]:
        assert torch.equal(r0["state"][k], r1["state"][k]), k  # ... and yet identical weights
    # the weights moved, and as one process training on both shards' batches would move them
    x, y = _data()
    ref = _model()
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    for step in range(STEPS):
        opt.zero_grad()
        loss = sum(torch.nn.functional.mse_loss(ref(x[r["idx"][step * BATCH % len(r["idx"]):][:BATCH]]),
                                                y[r["idx"][step * BATCH % len(r["idx"]):][:BATCH]])
                   for r in (r0, r1)) / world
        loss.backward()
        opt.step()
    start = _model().state_dict()
    for k, v in ref.state_dict().items():
        assert not torch.equal(start[k], r0["state"][k])
        torch.testing.assert_close(r0["state"][k], v, rtol=1e-5, atol=1e-6)
