"""Minimal helpers for data-parallel training under ``torchrun`` (DistributedDataParallel).

A chapter or a runner that wants several GPUs is started as

    torchrun --standalone --nproc_per_node 8 script.py

and calls, in order, :func:`init_from_env` (the process group from torchrun's environment
variables; NCCL on CUDA, gloo on the CPU), :func:`shard_indices` (this rank's part of the
training rows, with the semantics of ``torch.utils.data.DistributedSampler``),
:func:`wrap_model` (``DistributedDataParallel``; gradients are averaged across ranks in
``backward``) and :func:`cleanup`. Started without torchrun (no ``WORLD_SIZE`` or
``WORLD_SIZE=1``) everything degrades to a single process: no process group, the whole
index range, the model unwrapped; so the same script runs on a laptop.

The remaining helpers (:func:`get_rank`, :func:`get_world_size`, :func:`is_main`, :func:`unwrap`)
need no collective operation, so they are safe anywhere, e.g. in a progress bar or before
saving a checkpoint from rank 0 only.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .repro import resolve_device


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size`` processes, ``local_rank`` on its node."""
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None  # None: a single process, no process group

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer (torchrun sets it)") from None


def is_distributed() -> bool:
    """Whether a process group is initialised (``torch.distributed``)."""
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    """This process's global rank (0 without a process group; no communication)."""
    return dist.get_rank() if is_distributed() else _env_int("RANK", 0)


def get_world_size() -> int:
    """The number of processes (1 without a process group; no communication)."""
    return dist.get_world_size() if is_distributed() else _env_int("WORLD_SIZE", 1)


def is_main() -> bool:
    """Rank 0: the process that prints, saves checkpoints and writes results."""
    return get_rank() == 0


def init_from_env(device="auto", backend: str | None = None, timeout_s: float = 300.0) -> DistInfo:
    """Initialise the process group from torchrun's environment and pick this rank's device.

    Reads ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (and ``MASTER_ADDR``/``MASTER_PORT``,
    through ``init_method="env://"``). ``device``: ``"auto"``, ``"cpu"``, ``"cuda"`` or a
    ``torch.device``; on CUDA each rank takes GPU ``LOCAL_RANK`` (and makes it current).
    ``backend`` defaults to NCCL on CUDA and gloo on the CPU. With ``WORLD_SIZE`` unset or
    1, no process group is made (``backend`` is ``None``). Idempotent.
    """
    device = resolve_device(device)
    r, ws, lr = _env_int("RANK", 0), _env_int("WORLD_SIZE", 1), _env_int("LOCAL_RANK", 0)
    if device.type == "cuda":
        if lr >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK={lr} but only {torch.cuda.device_count()} CUDA devices are visible; "
                             f"start torchrun with --nproc_per_node <= {torch.cuda.device_count()}")
        device = torch.device("cuda", lr)
        torch.cuda.set_device(device)
    if ws <= 1:
        return DistInfo(0, 1, 0, device, None)
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    for var in ("MASTER_ADDR", "MASTER_PORT"):
        if var not in os.environ:
            raise ValueError(f"WORLD_SIZE={ws} but {var} is not set: start the script with torchrun "
                             f"(it sets {var}), or set it by hand")
    if backend is None:
        backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        from datetime import timedelta
        kw = {"device_id": device} if backend == "nccl" else {}
        dist.init_process_group(backend, init_method="env://", rank=r, world_size=ws,
                                timeout=timedelta(seconds=timeout_s), **kw)
    return DistInfo(dist.get_rank(), dist.get_world_size(), lr, device, dist.get_backend())


def shard_indices(n: int, rank: int | None = None, world_size: int | None = None, *, shuffle: bool = False,
                  seed: int = 0, epoch: int = 0, drop_last: bool = False) -> torch.Tensor:
    """This rank's rows of ``range(n)``, as ``torch.utils.data.DistributedSampler`` picks them.

    With ``shuffle`` one permutation seeded by ``seed + epoch`` (the same on every rank, so
    the shards are disjoint); the order is padded by wrapping around (or cut, ``drop_last``)
    to a multiple of ``world_size``; rank ``r`` takes every ``world_size``-th row from ``r``.
    Every rank gets the same number of rows, so DDP's gradient averaging stays in step.
    """
    rank = get_rank() if rank is None else rank
    world_size = get_world_size() if world_size is None else world_size
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if shuffle:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch))
    else:
        order = torch.arange(n)
    if drop_last:
        total = (n // world_size) * world_size
        order = order[:total]
    else:
        total = -(-n // world_size) * world_size
        pad = total - n
        if pad and n:
            order = torch.cat([order, order.repeat(-(-pad // n))[:pad]])
    return order[rank:total:world_size]


def wrap_model(model: torch.nn.Module, device=None, **ddp_kw) -> torch.nn.Module:
    """Move ``model`` to ``device`` and wrap it in ``DistributedDataParallel`` when a group exists.

    Without a process group the model is returned unwrapped (moved), so single-process code
    needs no branch. ``ddp_kw`` go to ``DistributedDataParallel`` (e.g. ``find_unused_parameters``).
    """
    device = resolve_device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    if not is_distributed() or dist.get_world_size() == 1:
        return model
    ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, **ddp_kw)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a ``DistributedDataParallel`` wrapper (or the model itself)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def cleanup() -> None:
    """Destroy the process group if there is one (call at the end of a torchrun script)."""
    if is_distributed():
        dist.destroy_process_group()
