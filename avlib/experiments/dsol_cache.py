"""The DSOL chapter's trained baselines, loaded back from the book's cache for a diagnosis.

:func:`avlib.experiments.dsol.run_baseline` returns a baseline's scores, not its model. A diagnosis that
needs the maps (the chapter's *Why the single-source map stays at the floor*) loads the model that call
trained: the cache file whose stored config names the same kind, seed, number of epochs, scale and data,
and whose file name is that config's key under the current avlib source — the file ``run_baseline`` itself
would load, never a model of older code. Nothing is trained here: a model not in the cache is an error.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .. import train as _train
from ..models.dsol_baselines import BaselineNet
from . import dsol as X
from .dsol_data import data_key, settings


def cached_baseline(data: dict, scale: str, kind: str, seed: int, epochs: int | None = None,
                    device: torch.device | str = "cpu", cache_dir: Path | str | None = None) -> BaselineNet:
    """The ``kind`` (``"ots"`` or ``"attention"``) baseline that ``run_baseline(data, scale, kind, seed,
    epochs=epochs)`` trained, from the cache (default: the book's, :data:`avlib.train.DEFAULT_CACHE`);
    ``FileNotFoundError`` if that call has not run with the current avlib source."""
    if kind not in ("ots", "attention"):
        raise ValueError(f"no cached-model loader for baseline {kind!r}; valid: 'ots', 'attention'")
    solo = data["solo_train"]
    want = {"kind": kind, "seed": seed, "scale": scale, "epochs": epochs or settings(scale)["stage1_epochs"],
            "n": len(solo["afeat"]), "data_id": data_key(data).get("data_id")}
    folder = Path(cache_dir) if cache_dir is not None else _train.DEFAULT_CACHE
    for path in sorted(folder.glob(f"dsol-baseline-{kind}-*.pt")):
        blob = torch.load(path, map_location="cpu", weights_only=False)
        config = blob.get("config", {})
        if (all(config.get(k) == v for k, v in want.items())
                and path.stem == f"dsol-baseline-{kind}-{_train.config_key(config, X.MODULES)}"):
            model = BaselineNet(kind, solo["vfeat"].shape[1], solo["afeat"].shape[1])
            model.load_state_dict(blob["state_dict"])
            return model.to(device).eval()
    raise FileNotFoundError(f"no cached {kind} baseline for seed {seed}, {want['epochs']} epochs, {scale} scale "
                            f"and this data in {folder}: run avlib.experiments.dsol.run_baseline first")
