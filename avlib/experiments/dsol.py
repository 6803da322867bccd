"""The DSOL chapter's train-or-load runner (Hu et al. 2020): training, evaluation, grids.

- The data (:func:`settings`, :func:`load_data`, the layouts of the real datasets) live in
  :mod:`avlib.experiments.dsol_data` and are re-exported here, so the chapter uses one name, ``X``.
- :data:`PAPER_TABLE1` / :data:`PAPER_TABLE2` and :func:`paper_sets` — the paper's numbers per test
  set, and which of its sets a chapter run is compared with (MUSIC's for the world and MUSIC,
  AudioSet-instrument's for AudioSet-instrument).
- :func:`run_dsol` — stage one then stage two for one :class:`~avlib.models.dsol.DSOLConfig`
  and seed (train-or-load, keyed by the config), evaluated on solo (IoU@0.5, AUC, NMI),
  mosaics and duets (CIoU@0.3, AUC, NSA), with stage one's validation curve.
- :func:`run_baseline` — the class-agnostic Object-that-sound-style and Attention-style maps.
- :func:`summarise` — mean ± std over seeds as a table.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..metrics.clustering import match_by_fraction, nmi
from ..metrics.localization import box_mask, evaluate_maps
from ..metrics.sounding import evaluate_class_maps
from ..models import dsol as M
from ..models import dsol_train as T
from ..models.dsol_baselines import BaselineNet, LVSBaseline
from ..models.encoders import VisualEncoder
from ..repro import resolve_device
from ..summary import mean_std
from ..sources import dependencies
from ..train import batches, train_or_load
from ..workers import default_workers, run_jobs
from .dsol_data import (AUDIOSET_LAYOUT, DATA_LAYOUT, SILENT_COUNTS, data_layout, dataset_name,  # noqa: F401
                        data_key, is_audioset, load_data, settings, skip_table, visual_input, world_tasks)

DATA_VERSION = 1
#: the avlib files this runner imports, transitively: the cache key of its models
MODULES = dependencies(__name__)
BACKBONES = ("pretrained", "scratch", "resnet18")


_ROWS = ("Object-that-sound-style", "Attention-style", "DSOL (ours)")
#: the paper's Table 1 (IoU@0.5, AUC in %) per single-source test set: (a) MUSIC-solo, (b) AudioSet-instrument-solo
PAPER_TABLE1 = {"MUSIC-solo": dict(zip(_ROWS, [(26.1, 35.8), (37.2, 38.7), (51.4, 43.6)])),
                "AudioSet-instrument-solo": dict(zip(_ROWS, [(32.7, 39.5), (36.5, 39.5), (38.9, 40.9)]))}
#: the paper's Table 2 (CIoU@0.3, AUC, NSA in %) per multi-source test set
PAPER_TABLE2 = {"MUSIC-Synthetic": dict(zip(_ROWS, [(3.7, 10.2, 19.8), (6.4, 12.3, 77.9), (32.3, 23.5, 98.5)])),
                "MUSIC-Duet": dict(zip(_ROWS, [(13.2, 18.3, 15.7), (21.5, 19.4, 54.6), (30.2, 22.1, 83.1)])),
                "AudioSet-instrument-multi": dict(zip(_ROWS, [(27.1, 21.9, 16.5), (29.9, 23.5, 4.5),
                                                              (48.7, 29.7, 56.8)]))}


def paper_sets(data_name: str) -> dict:
    """The paper's test sets that our ``solo``, ``mosaic`` and ``duet`` test splits are compared with.

    The world and MUSIC: MUSIC-solo, MUSIC-Synthetic, MUSIC-Duet. AudioSet-instrument: its solo and
    multi sets; ``mosaic`` is None (the paper has no synthetic set on AudioSet; the chapter's mosaics
    are built from the one-box test frames and reported as ours only).
    """
    if data_name == "AudioSet-instrument":
        return {"solo": "AudioSet-instrument-solo", "mosaic": None, "duet": "AudioSet-instrument-multi"}
    return {"solo": "MUSIC-solo", "mosaic": "MUSIC-Synthetic", "duet": "MUSIC-Duet"}


#: how many models this process trained and how many it loaded from the train-or-load cache
CACHE_STATS = {"trained": 0, "loaded": 0}


def _count(hit: bool) -> None:
    CACHE_STATS["loaded" if hit else "trained"] += 1


def build_model(cfg: M.DSOLConfig, data: dict, backbone: str = "pretrained") -> M.DSOLNet:
    """A fresh :class:`DSOLNet` for a backbone (see :data:`BACKBONES`)."""
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; valid: {BACKBONES}")
    C, D = data["solo_train"]["vfeat"].shape[1], data["solo_train"]["afeat"].shape[1]
    trunk = None
    if backbone == "scratch":
        trunk = VisualEncoder(C)
    elif backbone == "resnet18":
        from ..models.resnet import VisualResNet18
        trunk = VisualResNet18(width=C // 8)
    return M.DSOLNet(C, D, cfg.n_clusters, cfg, visual_trunk=trunk)


# ---- evaluation -----------------------------------------------------------------------------

def gt_masks(split: dict, size: int) -> np.ndarray:
    return box_mask(split["boxes"], size)


def eval_single(maps, split: dict, size: int) -> dict:
    """Table 1's IoU@0.5 and AUC as ``music-exp/tools.py``: the raw map (not normalised),
    resized to the image, binarised at ``> 0.1 × max``."""
    r = evaluate_maps(maps, gt_masks(split, size), rule="max_fraction", threshold=0.1, normalize=False)
    return {"iou@0.5": r["ciou"], "auc": r["auc"]}


def eval_multi(class_maps, split: dict, size: int, split_name: str) -> dict:
    """Table 2's CIoU@0.3, AUC and NSA by the official protocol of the split (see
    :mod:`avlib.metrics.sounding`): ``"duet"`` for the duet splits (``duet_test``), ``"synthetic"``
    for the mosaics (``mosaic_test``, ``silent2_test``, …)."""
    protocol = "duet" if split_name.startswith("duet") else "synthetic"
    r = evaluate_class_maps(class_maps, split["objects"], split["sounding"], size, protocol=protocol)
    return {k: v for k, v in r.items() if k not in ("cious", "nan_images")}


def _val_recorder(data: dict, every: int, last: int, maps):
    """A per-epoch callback and its curve: IoU@0.5 of ``maps()`` on the world's ``solo_val`` split
    every ``every`` epochs and at the last (no validation split on real data: an empty curve). It
    evaluates without gradients and draws no random numbers, so training is unchanged by it."""
    curve, val = [], data.get("solo_val")

    def record(epoch: int) -> None:
        if val is not None and ((epoch + 1) % every == 0 or epoch + 1 == last):
            with torch.no_grad():
                curve.append([epoch + 1, eval_single(maps(val), val, data["image_size"])["iou@0.5"]])
    return record, curve


def _stage_one_fields(cfg: M.DSOLConfig) -> dict:
    keep = ("emb_dim", "loc_init", "mask_threshold", "dilate", "object_pool", "kmeans_l2", "n_clusters", "alternating",
            "cluster_from_epoch", "reinit", "cls_epochs", "cls_lr", "class_maps", "stage1_epochs", "lr", "weight_decay",
            "batch_size", "seed")
    return {k: getattr(cfg, k) for k in keep}


def run_dsol(data: dict, scale: str, seed: int = 0, backbone: str = "pretrained", splits=("mosaic_test", "duet_test"),
             keep_model: bool = False, device: torch.device | str = "cpu", **overrides) -> dict:
    """Train-or-load stage one and stage two for ``DSOLConfig(**overrides)``; return the metrics.

    Solo: ``iou@0.5``, ``auc``, ``nmi`` (object features → nearest k-means centre, test set).
    Each split in ``splits``: ``<split>/ciou@0.3``, ``<split>/auc``, ``<split>/nsa``.
    ``val_curve``: stage one's ``[epoch, IoU@0.5]`` on the world's validation clips (empty on real data).
    Both stages train on ``device`` (the features stay on the CPU; batches are moved).
    """
    device = resolve_device(device)
    sc = settings(scale)
    base = dict(stage1_epochs=sc["stage1_epochs"], stage2_epochs=sc["stage2_epochs"], lr=sc["lr"],
                n_clusters=data["num_classes"], seed=seed)
    cfg = M.DSOLConfig(**{**base, **overrides})
    S, Kc = data["image_size"], data["num_classes"]
    solo, mix = data["solo_train"], data["mix_train"]
    common = {"scale": scale, "backbone": backbone, "data": DATA_VERSION, **data_key(data), "n": len(solo["afeat"])}
    def train1(m):
        record, curve = _val_recorder(data, sc["val_every"], cfg.stage1_epochs,
                                      lambda v: T.infer(m, visual_input(v, backbone), v["afeat"])["lmap"].cpu())
        return {**T.train_stage_one(m, visual_input(solo, backbone), solo["afeat"], progress=record), "val_iou": curve}

    stage1, hist1, hit1 = train_or_load(
        "dsol-stage1", {**common, **_stage_one_fields(cfg)}, lambda: build_model(cfg, data, backbone).to(device),
        train1, modules=MODULES, seed=seed, verbose=False)
    _count(hit1)
    stage1.to(device)
    # cluster → class alignment on the stage-one training set (evaluation only)
    tr = T.infer(stage1, visual_input(solo, backbone), solo["afeat"])
    mapping = match_by_fraction(M.assign_clusters(stage1, tr["object"]), solo["labels"], cfg.n_clusters, Kc)
    te = {k: v.cpu() for k, v in T.infer(stage1, visual_input(data["solo_test"], backbone),
                                         data["solo_test"]["afeat"]).items()}
    out = {"seed": seed, **eval_single(te["lmap"], data["solo_test"], S),
           "nmi": nmi(data["solo_test"]["labels"], M.assign_clusters(stage1, te["object"])),
           "val_curve": hist1.get("val_iou", [])}

    # stage two trains the layers above the visual trunk; a trained-from-scratch trunk is
    # frozen after stage one (its features are computed once), like the pretrained one
    vin = (lambda split: split["vfeat"]) if backbone == "pretrained" else \
        (lambda split: trunk_features(stage1, visual_input(split, backbone)))

    def build2():
        m = build_model(cfg, data, "pretrained")
        m.load_state_dict({k: v for k, v in stage1.state_dict().items() if not k.startswith("visual_trunk.")})
        return m.to(device)

    stage2, hist2, hit2 = train_or_load(
        "dsol-stage2", {**common, **cfg.to_dict(), "n_mix": len(mix["afeat"])}, build2,
        lambda m: T.train_stage_two(m, vin(mix), mix["afeat"]),
        modules=MODULES, seed=seed, verbose=False)
    _count(hit2)
    stage2.to(device)
    for name in splits:
        split = data[name]
        s, _ = T.predict_class_maps(stage2, vin(split), split["afeat"])
        r = eval_multi(T.cluster_maps_to_classes(s, mapping, Kc), split, S, name)
        out.update({f"{name.removesuffix('_test')}/{k}": v for k, v in r.items()})
    if keep_model:
        out.update(stage1=stage1, stage2=stage2, mapping=mapping, cfg=cfg, test_infer=te)
    return out


@torch.no_grad()
def trunk_features(model: M.DSOLNet, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """The visual trunk's maps of a split (eval mode), for a stage two above a frozen trunk."""
    model.eval()
    dev = next(model.parameters()).device
    return torch.cat([model.visual_trunk(xb.to(dev)).cpu() for (xb,) in batches(x, batch_size=batch_size)])


# ---- class-agnostic baselines (Table 1, Table 2) ---------------------------------------------

def run_baseline(data: dict, scale: str, kind: str, seed: int = 0, splits=("mosaic_test", "duet_test"),
                 device: torch.device | str = "cpu", epochs: int | None = None) -> dict:
    """Object-that-sound-style (``"ots"``), Attention-style (``"attention"``) or the LVS chapter's
    model (``"lvs"``, :mod:`avlib.models.lvs`) trained on solo (on ``device``) for ``epochs`` (default:
    stage one's), then its one class-agnostic map used for every class of the multi-source scenes.
    ``val_curve`` as :func:`run_dsol`'s."""
    device = resolve_device(device)
    sc = settings(scale)
    solo, S = data["solo_train"], data["image_size"]
    C, D = solo["vfeat"].shape[1], solo["afeat"].shape[1]
    cfg = {"kind": kind, "epochs": epochs or sc["stage1_epochs"], "lr": sc["lr"], "seed": seed, "scale": scale,
           "data": DATA_VERSION, **data_key(data), "n": len(solo["afeat"])}

    def train(m):
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(m.parameters(), lr=cfg["lr"], weight_decay=1e-4)
        losses = []
        record, curve = _val_recorder(data, sc["val_every"], cfg["epochs"],
                                      lambda v: m.maps(v["vfeat"], v["afeat"]))
        for e in range(cfg["epochs"]):
            m.train()
            for vb, ab in batches(solo["vfeat"], solo["afeat"], batch_size=32, shuffle=True, seed=seed * 1000 + e):
                opt.zero_grad(set_to_none=True)
                loss = m.loss(vb.to(device), ab.to(device), gen)
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
            record(e)
        return {"loss": losses, "val_iou": curve}

    build = (lambda: LVSBaseline(C, D).to(device)) if kind == "lvs" else \
        (lambda: BaselineNet(kind, C, D).to(device))
    model, results, hit = train_or_load(f"dsol-baseline-{kind}", cfg, build, train,
                                  modules=MODULES, seed=seed,
                                  verbose=False)
    _count(hit)
    model.to(device)
    out = {"seed": seed, **eval_single(model.maps(data["solo_test"]["vfeat"], data["solo_test"]["afeat"]),
                                       data["solo_test"], S), "val_curve": results.get("val_iou", [])}
    for name in splits:
        split = data[name]
        m = model.maps(split["vfeat"], split["afeat"])
        class_maps = m[:, None].expand(-1, data["num_classes"], -1, -1)
        r = eval_multi(class_maps, split, S, name)
        out.update({f"{name.removesuffix('_test')}/{k}": v for k, v in r.items()})
    return out


# ---- tables -----------------------------------------------------------------------------------

def run_rows(rows: dict, seeds, fn, device=None, workers: int | None = None) -> pd.DataFrame:
    """Run ``fn(seed=..., **row_kwargs)`` (and ``device=device`` when given) for every row and seed;
    a long DataFrame of its scalar metrics.

    The (row, seed) runs are independent: they go to ``workers`` processes (default: one per CPU
    core on the CPU, one on CUDA; :mod:`avlib.workers`), with the numbers of a sequential run.
    :data:`CACHE_STATS` counts the models the workers trained and loaded.
    """
    extra = {} if device is None else {"device": device}
    workers = default_workers(device or "cpu") if workers is None else workers
    jobs = [(name, kw, seed) for name, kw in rows.items() for seed in seeds]

    def one(job):
        name, kw, seed = job
        before = dict(CACHE_STATS)
        out = fn(seed=seed, **kw, **extra)
        return ({"row": name, **{k: v for k, v in out.items() if np.isscalar(v)}},
                {k: CACHE_STATS[k] - before[k] for k in CACHE_STATS})

    start = dict(CACHE_STATS)
    done = run_jobs(one, jobs, workers=workers, progress=False)
    # forked workers count in their own copies, in-process jobs in this one: set, don't add
    for k in CACHE_STATS:
        CACHE_STATS[k] = start[k] + sum(counts[k] for _, counts in done)
    return pd.DataFrame([record for record, _ in done])


def summarise(df: pd.DataFrame, metrics, percent=True, order=None) -> pd.DataFrame:
    """Mean ± std over seeds per row (:func:`avlib.summary.mean_std`; metrics ×100 when
    ``percent``, NMI kept as a fraction)."""
    rows = order or list(dict.fromkeys(df["row"]))
    out = {}
    for m in metrics:
        pct = percent and not m.endswith("nmi")
        g = df.groupby("row")[m]
        out[m] = [mean_std(g.get_group(r), digits=1 if pct else 3, scale=100 if pct else 1) for r in rows]
    return pd.DataFrame(out, index=rows)


def means(df: pd.DataFrame) -> pd.DataFrame:
    """Per-row mean of every metric (for glue and the scorecard)."""
    return df.drop(columns=["seed"]).groupby("row", sort=False).mean()


def stds(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=["seed"]).groupby("row", sort=False).std(ddof=1)
