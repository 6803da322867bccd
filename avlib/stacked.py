"""Train the seeds of one row together: stacked parameters, one ``vmap``-ed step (issue 20, item 4).

Models of one table row differ only in their seed (initial weights, batch order, dropout masks).
:func:`fit_stacked` stacks their parameters along a new first dimension
(:func:`torch.func.stack_module_state`), runs every seed's forward and loss in one
:func:`torch.vmap` of :func:`torch.func.functional_call`, and takes one Adam step on the stacked
tensors. Each seed stays the model it would have been alone:

- the summed loss gives each seed the gradient of its own loss; Adam and weight decay act
  element by element, so a seed's update never sees another seed's numbers;
- each seed trains on its own batches (``train_batches(seed, epoch)``) and keeps its own best
  validation state;
- dropout draws no shared random numbers: each seed has its own generator, from which
  :class:`KeyedDropout` layers take their masks, so seed ``s``'s masks are the same in a stack
  of one and in a stack of ten;
- automatic mixed precision is off (a gradient scaler skips a step for every seed when one
  seed overflows).

So a stack of seeds ``[0, 1, 2]`` gives, to float tolerance, the models of three stacks of one
(``tests/test_stacked.py``); what it saves is the per-step Python and dispatch overhead of small
models, S times over. :func:`train_or_load_stacked` is :func:`avlib.train.train_or_load` for a
list of seeds: cached seeds load, the missing ones train together, each is cached on its own.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import nn
from torch.func import functional_call, stack_module_state
from tqdm.auto import tqdm

from .repro import resolve_device, seed_everything
from .sources import PACKAGE_DIR
from . import train as _train
from .train import History, atomic_save, config_key, to_device

#: seed ``s``'s dropout generator starts from ``DROPOUT_STREAM + s`` (apart from its init's stream)
DROPOUT_STREAM = 1_000_003


class KeyedDropout(nn.Module):
    """Dropout whose mask comes from a per-seed stream of uniform numbers, set by the trainer.

    Outside :func:`fit_stacked` (``keyed`` False) it is ``nn.Dropout`` (the global generator).
    Inside, before every step the trainer fills the (non-persistent) ``noise`` buffer of every
    layer with uniform numbers of the layer's input shape, drawn from each seed's own CPU
    generator (:func:`_fill_noise`); an element is kept where ``noise ≥ p`` and scaled by
    ``1 / (1 − p)``. Drawn on the CPU, the masks are the same on every device.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must lie in [0, 1), got {p}")
        self.p, self.keyed, self.shape = p, False, None
        self.register_buffer("noise", torch.empty(0), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if not self.keyed:
            return nn.functional.dropout(x, self.p, True)
        if x.device.type == "meta":   # the trainer's shape probe
            self.shape = tuple(x.shape)
            return x
        if self.noise.shape != x.shape:
            raise RuntimeError(f"dropout noise of shape {tuple(self.noise.shape)} for an input of {tuple(x.shape)}")
        return x * (self.noise >= self.p).to(x.dtype) / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def _fill_noise(base: nn.Module, drops: list, buffers: dict, loss_fn: Callable, batch: tuple, gens: list,
                device) -> None:
    """Probe the input shape of every keyed dropout layer (the loss of one seed's batch on the meta
    device: shapes, no arithmetic), then draw each seed's uniform noise for this step from its own
    generator, in layer order."""
    if not drops:
        return
    with torch.no_grad():
        loss_fn(base, tuple(x.to("meta") for x in batch))
    for name in drops:
        shape = base.get_submodule(name).shape
        buffers[f"{name}.noise"] = torch.stack([torch.rand(shape, generator=g) for g in gens]).to(device)


def _stack_batches(per_seed: list) -> tuple:
    """One step's batches of every seed, stacked along a new first dimension."""
    first = per_seed[0]
    for b in per_seed[1:]:
        if len(b) != len(first) or any(x.shape != y.shape for x, y in zip(b, first)):
            raise ValueError("stacked seeds need batches of equal shapes at every step, got "
                             f"{[tuple(x.shape) for x in first]} and {[tuple(x.shape) for x in b]}")
    return tuple(torch.stack(parts) for parts in zip(*per_seed))


def fit_stacked(models: list[nn.Module], seeds: list[int], train_batches: Callable[[int, int], Iterable],
                loss_fn: Callable, *, epochs: int, lr: float = 1e-3, weight_decay: float = 0.0,
                val_fn: Callable[[nn.Module], float] | None = None, device="auto", progress: bool = True,
                desc: str = "train") -> list[History]:
    """Train ``models`` (one per seed, same architecture) together; return one :class:`History` each.

    ``train_batches(seed, epoch)`` yields that seed's batches (tuples of tensors; every seed the
    same number and shapes); ``loss_fn(forward, batch)`` returns one seed's scalar loss, where
    ``forward(*inputs)`` runs the model. Adam(lr, weight_decay) as :func:`avlib.train.fit`; with
    ``val_fn`` (higher is better) each model ends with its own best validation state.
    """
    if len(models) != len(seeds) or not models:
        raise ValueError(f"one model per seed, got {len(models)} models and {len(seeds)} seeds")
    device = resolve_device(device)
    for m in models:
        m.to(device)
    base = copy.deepcopy(models[0]).to("meta")
    drops = [name for name, m in base.named_modules() if isinstance(m, KeyedDropout)]
    for name in drops:
        base.get_submodule(name).keyed = True
    gens = [torch.Generator().manual_seed(DROPOUT_STREAM + s) for s in seeds]
    params, buffers = stack_module_state(models)
    opt = torch.optim.Adam(list(params.values()), lr=lr, weight_decay=weight_decay)

    def one(p, b, batch):
        return loss_fn(lambda *a: functional_call(base, (p, b), a), batch)

    step_all = torch.vmap(one, in_dims=(0, 0, 0))
    state_keys = list(models[0].state_dict())
    hists, best = [History() for _ in seeds], [None] * len(seeds)
    for epoch in tqdm(range(epochs), desc=desc, disable=not progress, leave=False):
        base.train()
        total, count = torch.zeros(len(seeds), dtype=torch.float64, device=device), 0
        for per_seed in zip(*(train_batches(s, epoch) for s in seeds)):
            batch = to_device(_stack_batches(per_seed), device)
            _fill_noise(base, drops, buffers, loss_fn, per_seed[0], gens, device)
            opt.zero_grad(set_to_none=True)
            losses = step_all(params, buffers, batch)
            losses.sum().backward()
            opt.step()
            total += losses.detach().double()
            count += 1
        epoch_loss = (total / max(count, 1)).tolist()
        for i, (s, h) in enumerate(zip(seeds, hists)):
            if not math.isfinite(epoch_loss[i]):
                raise FloatingPointError(f"non-finite training loss of seed {s} at epoch {epoch}")
            h.loss.append(epoch_loss[i])
            if val_fn is None:
                continue
            state = {k: (params | buffers)[k][i].detach().clone() for k in state_keys}
            models[i].load_state_dict(state)
            models[i].eval()
            with torch.no_grad():
                score = float(val_fn(models[i]))
            h.val.append(score)
            if h.best_epoch < 0 or score > h.val[h.best_epoch]:
                h.best_epoch, best[i] = epoch, state
    for i, m in enumerate(models):
        m.load_state_dict(best[i] if best[i] is not None else
                          {k: (params | buffers)[k][i].detach().clone() for k in state_keys})
        m.eval()
    return hists


def train_or_load_stacked(name: str, configs: dict, build: Callable[[], nn.Module],
                          train: Callable[[list, list], list], *, cache_dir: Path | str | None = None,
                          modules: tuple = (), root: Path = PACKAGE_DIR) -> dict:
    """:func:`avlib.train.train_or_load` for several seeds: ``{seed: (model, results, hit)}``.

    ``configs``: ``{seed: config}`` (each keys its own cache file); ``build()`` after
    ``seed_everything(seed)`` gives each seed's initial model, as a lone run would;
    ``train(models, seeds)`` trains the seeds not in the cache together (:func:`fit_stacked`) and
    returns one JSON-able results dict per seed.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else _train.DEFAULT_CACHE   # read now: tests patch it
    out, missing = {}, []
    for seed, config in configs.items():
        path = cache_dir / f"{name}-{config_key(config, modules, root)}.pt"
        seed_everything(seed)
        model = build()
        if path.exists():
            try:
                blob = torch.load(path, map_location="cpu", weights_only=False)
                model.load_state_dict(blob["state_dict"])
                out[seed] = (model.eval(), blob["results"], True)
                continue
            except Exception as err:  # a truncated or stale file: retrain rather than fail
                print(f"cache file {path} unreadable ({err}); retraining")
        missing.append((seed, model, path, config))
    if missing:
        results = train([m for _, m, _, _ in missing], [s for s, _, _, _ in missing])
        for (seed, model, path, config), res in zip(missing, results):
            atomic_save({"state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
                         "results": res, "config": config}, path)
            out[seed] = (model.eval(), res, False)
    return {s: out[s] for s in configs}
