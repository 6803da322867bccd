"""A small training loop: ``fit``, ``evaluate``, batching and a train-or-load cache.

- ``device="auto"`` → CUDA when present; mixed precision (AMP) on CUDA only.
- Progress bars by tqdm; seeded, so CPU runs are bit-repeatable.
- Model selection on a validation score (never the test split), keeping the best state.
- :func:`train_or_load` caches a trained model under ``data/cache`` keyed by its config
  and the avlib source hash; writes are atomic (temporary file + rename).
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import torch
from tqdm.auto import tqdm

from .repro import resolve_device, seed_everything
from .sources import PACKAGE_DIR, source_hash

DEFAULT_CACHE = Path(os.environ.get("AVLIB_CACHE", Path(__file__).resolve().parents[1] / "data" / "cache"))


def batches(*tensors: torch.Tensor, batch_size: int, shuffle: bool = False, seed: int = 0, index=None):
    """Yield tuples of aligned mini-batches of the rows ``index`` (default: all rows) of ``tensors``.

    ``shuffle``: a seeded CPU permutation of those rows (the same on every device), moved once
    to the tensors' device when they share one, where the batches are gathered (no copy of the
    subset first).
    """
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError(f"tensors must share their first dimension, got {[len(t) for t in tensors]}")
    rows = torch.arange(n) if index is None else torch.as_tensor(index).cpu()
    if shuffle:
        rows = rows[torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed))]
    devices = {t.device for t in tensors}
    order = rows.to(devices.pop()) if len(devices) == 1 else rows   # a CPU index serves tensors on mixed devices
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        yield tuple(t[idx] for t in tensors)


@dataclass
class History:
    """Per-epoch training loss and validation score; ``best_epoch`` is 0-based."""
    loss: list = field(default_factory=list)
    val: list = field(default_factory=list)
    best_epoch: int = -1

    @property
    def best_val(self):
        return self.val[self.best_epoch] if self.val and self.best_epoch >= 0 else None


def flattened(curve, tail: float = 0.25, tol: float = 0.5) -> bool:
    """Whether a validation curve has flattened (the book's convergence criterion): the best score of
    its last ``tail`` of epochs (at least one) improves on the best before them by at most ``tol``, in
    the curve's unit (0.5 points of accuracy or F1 by default). A curve too short to have epochs
    before its last ``tail`` has not shown that it flattened: ``False``."""
    curve = [float(v) for v in curve]
    k = max(1, int(round(tail * len(curve))))
    if len(curve) <= k:   # too short to show a plateau (e.g. one epoch at smoke scale)
        return False
    return max(curve[-k:]) - max(curve[:-k]) <= tol


def to_device(batch, device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def fit(model: torch.nn.Module, train_batches: Callable[[int], Iterable], loss_fn: Callable, *,
        epochs: int, lr: float = 1e-3, weight_decay: float = 0.0, optimizer=None, scheduler=None,
        val_fn: Callable[[torch.nn.Module], float] | None = None, device="auto",
        progress: bool = True, desc: str = "train") -> History:
    """Train ``model`` for ``epochs``; return its :class:`History`.

    ``train_batches(epoch)`` yields batches; ``loss_fn(model, batch)`` returns a scalar
    loss. With ``val_fn`` (higher is better) the model ends with its best validation
    state. ``optimizer`` defaults to Adam(lr, weight_decay).
    """
    device = resolve_device(device)
    model.to(device)
    opt = optimizer or torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    use_amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    hist, best_state = History(), None
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        total, count = torch.zeros((), dtype=torch.float64, device=device), 0
        for batch in train_batches(epoch):
            batch = to_device(batch, device)
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device.type, enabled=use_amp):
                loss = loss_fn(model, batch)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            total += loss.detach().double()   # summed on the device: no host sync per step
            count += 1
        epoch_loss = float(total) / max(count, 1)   # one sync per epoch
        if not math.isfinite(epoch_loss):
            raise FloatingPointError(f"non-finite training loss at epoch {epoch} ({epoch_loss})")
        if scheduler is not None:
            scheduler.step()
        hist.loss.append(epoch_loss)
        if val_fn is not None:
            model.eval()
            with torch.no_grad():
                score = float(val_fn(model))
            hist.val.append(score)
            if hist.best_epoch < 0 or score > hist.val[hist.best_epoch]:
                hist.best_epoch, best_state = epoch, copy.deepcopy(model.state_dict())
            bar.set_postfix(loss=f"{hist.loss[-1]:.4f}", val=f"{score:.4f}")
        else:
            bar.set_postfix(loss=f"{hist.loss[-1]:.4f}")
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return hist


@torch.no_grad()
def evaluate(model: torch.nn.Module, eval_batches: Iterable, fn: Callable, device="auto") -> list:
    """Run ``fn(model, batch)`` over batches in eval mode and collect the results."""
    device = resolve_device(device)
    model.to(device).eval()
    return [fn(model, to_device(b, device)) for b in eval_batches]


def config_key(config: dict, modules: tuple = (), root: Path = PACKAGE_DIR) -> str:
    """Hash of a JSON-able config plus the avlib source hash (of ``modules``, or all of avlib).

    Runners pass ``modules = avlib.sources.dependencies(__name__)``: the files they import.
    """
    blob = json.dumps(config, sort_keys=True, default=str) + source_hash(*modules, root=root)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def atomic_save(obj, path: Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train_or_load(name: str, config: dict, build: Callable[[], torch.nn.Module],
                  train: Callable[[torch.nn.Module], dict], *, cache_dir: Path | str | None = None,
                  modules: tuple = (), seed: int | None = None, verbose: bool = False,
                  root: Path = PACKAGE_DIR):
    """Load the cached model for (name, config, avlib source) or train and cache it.

    ``build()`` makes a fresh model; ``train(model)`` trains it in place and returns a
    JSON-able dict of results (history, scores), cached beside the weights. Returns
    ``(model, results, hit)`` where ``hit`` says whether the cache was used.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
    path = cache_dir / f"{name}-{config_key(config, modules, root)}.pt"
    if seed is not None:
        seed_everything(seed)
    model = build()
    if path.exists():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=False)
            model.load_state_dict(blob["state_dict"])
            if verbose:
                print(f"loaded {name} from cache {path.name}")
            return model.eval(), blob["results"], True
        except Exception as err:  # a truncated or stale file: retrain rather than fail
            print(f"cache file {path} unreadable ({err}); retraining")
    results = train(model)
    atomic_save({"state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
                 "results": results, "config": config}, path)
    return model.eval(), results, False
