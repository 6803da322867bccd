"""Train-or-load runner of the LVS chapter (Chen et al. 2021): data splits, the grid, evaluation.

- :func:`config` — sizes, steps and seeds per scale (``smoke`` / ``book`` / ``paper``).
- :func:`world_split` — a world ``single_source`` split (train, Flickr-like, VGG-SS-like, or a
  fixed number of silent distractors) rendered once and cached on disk with its inputs
  (frozen-feature maps, or frames and spectrograms for the ResNet backbone) and, for test
  splits, the ground-truth maps and the silent objects' pixels.
- :func:`real_split` — the same structure from the real VGG-SS / Flickr-SoundNet test files.
- :func:`train_one` — train-or-load one model (method × training split × seed × overrides of the
  loss settings, e.g. ``hard_weight``, the chapter's diagnosis: :class:`avlib.models.lvs.LVSLossConfig`).
- :func:`evaluate` — cIoU (success at 0.5), AUC and the false-positive measures on a test split.
- :func:`run_grid` — many rows of (method, training split, seed, overrides) × test splits → a
  tidy DataFrame; :func:`avlib.summary.mean_std_table` formats it as "mean ± std" over seeds.

Backbones: ``"features"`` (book and smoke scale) trains projection heads on the frozen
world-pretrained encoders of :mod:`avlib.features` (a 7×7×128 map and a 128-d audio vector);
``"resnet18"`` (paper scale, for a GPU) trains the two ResNet-18 streams of
:mod:`avlib.models.resnet` from scratch on frames and log-mel spectrograms.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..audio import IMAGE_MEAN, IMAGE_STD
from ..metrics.localization import consensus_mask, evaluate_maps, resize_maps, union_mask
from ..models.lvs import feature_lvs, heatmaps, lvs_loss, method_config, resnet_lvs
from ..models.resnet import AudioResNet18
from ..repro import pick
from ..train import DEFAULT_CACHE, atomic_save, fit, train_or_load
from ..sources import dependencies
from ..world import SingleSource

#: the avlib files this runner imports, transitively: the cache key of its models
MODULES = dependencies(__name__)
#: what a ``data_root`` must hold: the Flickr-SoundNet and/or VGG-SS test set (checked in the chapter's first cells);
#: with one of them the chapter evaluates that one and says which tables and claims need the other
#: where each real test set lives under ``data_root`` (what :func:`test_sets` looks for)
TEST_MARKERS = {"flickr": "flickr/Annotations/*.xml", "vggss": "vggss/vggss.json"}
DATA_LAYOUT = {"name": "Flickr-SoundNet or VGG-SS test", "any_of": list(TEST_MARKERS.values()),
               "doc": "avlib/datasets/flickr.py, avlib/datasets/vggss.py and data/README.md"}
#: the chapter's name of the real data (provenance, claims, the results file's name), by the test sets present
DATA_NAMES = {("flickr", "vggss"): "Flickr-SoundNet + VGG-SS", ("flickr",): "Flickr-SoundNet", ("vggss",): "VGG-SS"}
#: what each test split is called in tables, on the world and on the real files
TEST_NAMES = {"world": {"flickr": "Flickr-like", "vggss": "VGG-SS-like"},
              "real": {"flickr": "Flickr-SoundNet test", "vggss": "VGG-SS test"}}
#: the Flickr-like test's classes: fewer, everyday sound sources (Flickr-SoundNet's flavour)
FLICKR_CLASSES = ("guitar", "violin", "piano", "drum", "dog", "cat", "horse", "bird", "man", "woman", "baby",
                  "car", "train", "helicopter")
#: SingleSource knobs of each kind of split
#: (``scale`` is the icon's side as a fraction of the image's: the top-50 % rule of the official
#: evaluation can only reach cIoU ≥ 0.5 when a source covers ≥ 25 % of the image, as real
#: Flickr-SoundNet / VGG-SS sources mostly do, so the world's objects are large here)
KNOBS = {
    "train": dict(distractors=(0, 3), scale=(0.4, 0.8), annotators=1),
    "flickr": dict(classes=FLICKR_CLASSES, distractors=(0, 2), scale=(0.55, 0.8), annotators=3),
    "vggss": dict(distractors=(1, 3), scale=(0.4, 0.65), annotators=1),
}
STRESS_SCALE = (0.45, 0.7)
DATA_SEEDS = {"train": 101, "flickr": 202, "vggss": 303, "stress-train": 404, "stress-test": 505, "val": 606}


def settings(scale: str, seeds=None) -> dict:
    """Everything that sizes the chapter at ``scale``; ``seeds`` overrides the scale's seeds."""
    cfg = {
        "scale": scale,
        "backbone": pick(scale, smoke="features", book="features", paper="resnet18"),
        "n_small": pick(scale, smoke=48, book=200, paper=10_000),       # "10k"
        "n_large": pick(scale, smoke=96, book=2880, paper=144_000),     # "144k": the paper's 1 : 14.4
        "n_flickr": pick(scale, smoke=32, book=250, paper=250),
        "n_vggss": pick(scale, smoke=32, book=500, paper=5_000),
        # book: where the large set's validation curve has flattened (about 240 steps; 100 stopped it
        # on the rise, +0.05 cIoU in its second half); the small set's curve peaks in its first ~30
        "steps": pick(scale, smoke=3, book=300, paper=20_000),
        # the learning curves: cIoU on a world validation split (training distribution) every val_every steps
        "n_val": pick(scale, smoke=16, book=200, paper=1_000),
        "val_every": pick(scale, smoke=1, book=15, paper=1_000),
        # the checkpoint kept: "val", the recorded step with the best validation cIoU (the small set
        # overfits long before the large set's curve flattens); "last", the schedule's last step
        "selection": "val",
        "batch_size": pick(scale, smoke=16, book=64, paper=128),
        "lr": pick(scale, smoke=1e-3, book=1e-3, paper=1e-4),
        "dim": pick(scale, smoke=32, book=64, paper=512), "width": 64, "layer3_stride": 1,
        "seeds": list(seeds) if seeds is not None else pick(scale, smoke=[0], book=[0, 1, 2, 3, 4], paper=[0, 1, 2]),
        "sweep": pick(scale, smoke={"eps_p": [0.5]},
                      book={"eps_p": [0.5, 0.8], "eps_n": [0.2], "tau": [0.1]},
                      paper={"eps_p": [0.5, 0.6, 0.7, 0.8], "eps_n": [0.2, 0.3, 0.5], "tau": [0.01, 0.05, 0.1]}),
        "distractor_levels": pick(scale, smoke=[0, 3], book=[0, 1, 3], paper=[0, 1, 2, 3, 4]),
        "n_stress_train": pick(scale, smoke=48, book=1000, paper=20_000),
        "n_stress_test": pick(scale, smoke=32, book=200, paper=1_000),
        # real test sets: a fixed subsample at smoke (seconds), the whole official list otherwise
        "n_real": pick(scale, smoke=16, book=None, paper=None),
    }
    return cfg


def world_task(kind: str, n: int, distractors=None, knobs: dict | None = None, seed_offset: int = 0) -> SingleSource:
    """The world's task for a split ``kind`` (a :data:`KNOBS` key, or ``"stress-train"`` / ``"stress-test"``
    with ``distractors`` per scene) of ``n`` scenes, seeded by :data:`DATA_SEEDS` (+ ``seed_offset``: the
    calibration's worlds). ``knobs`` override the kind's :data:`KNOBS` (the calibrated test sets)."""
    seed = DATA_SEEDS.get(kind, 0) + seed_offset
    if kind in KNOBS:
        return SingleSource(n, seed=seed, **{**KNOBS[kind], **(knobs or {})})
    if kind == "val":   # the training distribution on other scenes, with truth: the learning curves
        return SingleSource(n, seed=seed, **{**KNOBS["train"], **(knobs or {})})
    if kind in ("stress-train", "stress-test"):
        return SingleSource(n, seed=seed, distractors=(distractors, distractors), scale=STRESS_SCALE,
                            annotators=1)
    raise ValueError(f"unknown split kind {kind!r}; valid: {sorted(KNOBS) + ['stress-train', 'stress-test', 'val']}")


def _key(blob: dict) -> str:
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _frames_to_input(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (B, H, W, 3) on any device → normalised float (B, 3, H, W)."""
    mean = torch.as_tensor(IMAGE_MEAN, device=frames.device)
    std = torch.as_tensor(IMAGE_STD, device=frames.device)
    return ((frames.float() / 255.0 - mean) / std).permute(0, 3, 1, 2).contiguous()


def _inputs(samples: list, backbone: str, encoders) -> tuple[torch.Tensor, torch.Tensor]:
    frames = np.stack([s["frame"] for s in samples])
    waves = np.stack([s["audio"] for s in samples])
    if backbone == "features":
        from ..features import encode_audio, encode_frames
        vis = torch.from_numpy(encode_frames(encoders.visual, frames)).permute(0, 3, 1, 2).half()
        aud = torch.from_numpy(encode_audio(encoders.audio, waves))
        return vis, aud
    if backbone == "resnet18":
        return torch.from_numpy(frames), AudioResNet18.spectrogram(torch.from_numpy(waves)).half()
    raise ValueError(f"unknown backbone {backbone!r}; valid: 'features', 'resnet18'")


def _truth(samples: list, S: int, kind: str) -> dict:
    """Ground truth (N, S, S), silent-object pixels (N, S, S) bool, and per-image object lists."""
    if kind == "flickr":
        gt = consensus_mask([s["annotator_boxes"] for s in samples], S)
    else:   # a real VGG-SS entry may have no box: an empty ground truth, as the official evaluation
        gt = union_mask([np.asarray(s.get("boxes", [s["box"]]), dtype=float).reshape(-1, 4) for s in samples], S)
    silent = np.zeros((len(samples), S, S), dtype=bool)
    for k, s in enumerate(samples):
        for o in s.get("objects", []):
            if not o["sounding"]:
                x0, y0, x1, y1 = o["box"]
                silent[k, y0:y1, x0:x1] = True
        if s["box"] is not None:
            sx0, sy0, sx1, sy1 = s["box"]
            silent[k, sy0:sy1, sx0:sx1] = False
    return {"gt": torch.from_numpy(gt), "silent": torch.from_numpy(silent)}


def _build(samples_fn, n: int, backbone: str, encoders, test_kind, chunk: int = 256) -> dict:
    parts = {"visual": [], "audio": [], "gt": [], "silent": []}
    n_dis = []
    for start in range(0, n, chunk):
        samples = samples_fn(range(start, min(n, start + chunk)))
        v, a = _inputs(samples, backbone, encoders)
        parts["visual"].append(v)
        parts["audio"].append(a)
        n_dis.extend(sum(not o["sounding"] for o in s.get("objects", [])) for s in samples)
        if test_kind is not None:
            t = _truth(samples, samples[0]["frame"].shape[0], test_kind)
            parts["gt"].append(t["gt"])
            parts["silent"].append(t["silent"])
    out = {k: torch.cat(v) for k, v in parts.items() if v}
    out["n_distractors"] = np.asarray(n_dis)
    return out


def world_split(kind: str, n: int, cfg: dict, encoders=None, distractors=None, test: bool | None = None,
                cache_dir=None, knobs: dict | None = None, seed_offset: int = 0) -> dict:
    """A world split with model inputs (and truth for test splits), cached on disk.

    ``kind``: ``train``, ``flickr``, ``vggss``, ``stress-train`` or ``stress-test`` (the last two
    with exactly ``distractors`` silent objects per image), or ``val`` (the training distribution on
    other scenes, with truth: the learning curves). ``knobs`` and ``seed_offset``: :func:`world_task`'s
    (both part of the task, and so of the split's cache key).
    """
    task = world_task(kind, n, distractors, knobs, seed_offset)
    test = kind in ("flickr", "vggss", "stress-test", "val") if test is None else test
    backbone = cfg["backbone"]
    blob = {"kind": kind, "n": n, "task": repr(task.config), "seed": task.seed, "backbone": backbone,
            "enc": getattr(encoders, "key", None), "test": test, "v": 1}
    path = (DEFAULT_CACHE if cache_dir is None else cache_dir) / f"lvs-split-{kind}-{_key(blob)}.pt"
    if path.exists():
        split = torch.load(path, weights_only=False)
    else:
        split = _build(lambda idx: [task[i] for i in idx], n, backbone, encoders,
                       ("flickr" if kind == "flickr" else "box") if test else None)
        atomic_save(split, path)
    split.update(name=kind if distractors is None else f"{kind}-{distractors}", key=_key(blob), task=task, n=n)
    return split


def task_split(task, cfg: dict, encoders=None, test_kind: str | None = None, name: str | None = None) -> dict:
    """Model inputs (with ``test_kind`` ``"flickr"`` or ``"box"``, also the truth) for any world task object:
    a :class:`~avlib.world.SingleSource` with other knobs than :data:`KNOBS`, or a subclass of it (the
    exercises' worlds). Not cached on disk; its ``key`` names the task's class, config and seed, so the
    models trained on it are cached by it."""
    split = _build(lambda idx: [task[i] for i in idx], task.n, cfg["backbone"], encoders, test_kind)
    blob = {"cls": type(task).__name__, "task": repr(task.config), "seed": task.seed, "n": task.n, "test": test_kind}
    split.update(name=name or type(task).__name__, key=f"task-{_key(blob)}", task=task, n=task.n)
    return split


def real_split(dataset, cfg: dict, encoders=None, data_id: str = "real") -> dict:
    """A test split from a real loader (:class:`~avlib.datasets.vggss.VGGSS` or ``FlickrSoundNet``).

    Evaluates the subsample :func:`~avlib.datasets.io.subsample` ``(len, cfg["n_real"])`` (all at
    book / paper scale); ``data_id`` (:func:`avlib.repro.data_identity`) goes into the split's key.
    """
    from ..datasets.io import subsample
    kind = "flickr" if dataset.name == "flickr" else "box"
    idx = subsample(len(dataset), cfg.get("n_real"), seed=0)
    split = _build(lambda ks: [dataset[int(idx[k])] for k in ks], len(idx), cfg["backbone"], encoders, kind)
    split.update(name=f"real-{dataset.name}", key=f"real-{dataset.name}-{data_id}-{len(idx)}", task=dataset,
                 n=len(idx), indices=idx)
    return split


def test_sets(data_root) -> tuple:
    """The test sets a chapter evaluates: both on the world (``None``); on real data those under ``data_root``."""
    if data_root is None:
        return tuple(TEST_MARKERS)
    root = Path(data_root)
    return tuple(k for k, pattern in TEST_MARKERS.items() if any(root.glob(pattern)))


def real_tests(data_root, cfg: dict, encoders=None) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """The real test splits present under ``data_root`` (:func:`test_sets`), a table of their sizes
    (official list → evaluated) and what was skipped.

    Returns ``(splits, sizes, notes)``: ``splits["flickr"]`` and/or ``splits["vggss"]``; ``sizes`` one row
    per test set (test list, listed, skipped, evaluated); ``notes`` every :class:`SkipLog` row
    (missing media, corrupt or empty boxes, entries kept with an empty ground truth).
    """
    from ..datasets.flickr import FlickrSoundNet
    from ..datasets.vggss import VGGSS
    from ..repro import data_identity
    data_id = data_identity(data_root)
    splits, sizes, notes = {}, [], []
    present = test_sets(data_root)
    for key, cls in (("flickr", FlickrSoundNet), ("vggss", VGGSS)):
        if key not in present:
            continue
        ds = cls(data_root)
        splits[key] = real_split(ds, cfg, encoders, data_id)
        sizes.append({"test set": ds.title, "test list": ds.test_list, "listed": ds.listed,
                      "skipped": len(ds.skipped), "usable": len(ds), "evaluated": splits[key]["n"]})
        for log, what in ((ds.skipped, "skipped"), (ds.box_notes, "box note")):
            f = log.frame(ds.listed)
            f.insert(0, "kind", what)
            f.insert(0, "test set", ds.title)
            notes.append(f)
    notes = pd.concat(notes, ignore_index=True) if any(len(f) for f in notes) else pd.DataFrame(
        columns=["test set", "kind", "reason", "count", "share", "examples"])
    return splits, pd.DataFrame(sizes).set_index("test set"), notes


def subset(split: dict, n: int) -> dict:
    """The first ``n`` samples of a split (the small training set is a prefix of the large one)."""
    out = {k: (v[:n] if isinstance(v, (torch.Tensor, np.ndarray)) else v) for k, v in split.items()}
    out.update(n=n, key=f"{split['key']}[:{n}]")
    return out


def _prep(batch, backbone):
    v, a = batch
    if backbone == "resnet18":
        return _frames_to_input(v), a.float()
    return v.float(), a.float()


def build_model(cfg: dict, split: dict):
    if cfg["backbone"] == "features":
        return feature_lvs(split["visual"].shape[1], split["audio"].shape[1], cfg["dim"])
    return resnet_lvs(cfg["width"], cfg["layer3_stride"])


def train_one(method: str, split: dict, seed: int, cfg: dict, device, overrides: dict | None = None,
              val: dict | None = None):
    """Train-or-load one LVS model; returns ``(model, results)`` (results: loss per epoch, epochs, and
    with a ``val`` split its learning curve ``val_ciou``: ``[step, cIoU]`` every ``cfg["val_every"]``
    steps and at the last, measured without gradients and without drawing random numbers, so the
    training is the same with and without it; the split's key is part of the cache key).

    ``cfg["selection"]``: ``"val"`` returns the weights of the recorded step with the best validation
    cIoU (the first, on ties; ``results["best_step"]``) and needs ``val``; ``"last"`` the last step's.
    """
    select = cfg.get("selection", "last")
    if select not in ("val", "last"):
        raise ValueError(f"unknown selection {select!r}; valid: 'val', 'last'")
    if select == "val" and val is None:
        raise ValueError("selection='val' keeps the best validation step: pass a val split "
                         "(world_split('val', ...)), or set cfg['selection'] = 'last'")
    loss_cfg = method_config(method, **(overrides or {}))
    bs = min(cfg["batch_size"], split["n"])
    per_epoch = max(1, split["n"] // bs)
    epochs = max(1, math.ceil(cfg["steps"] / per_epoch))
    key_cfg = {"method": method, "loss": asdict(loss_cfg), "split": split["key"], "n": split["n"], "bs": bs,
               "epochs": epochs, "lr": cfg["lr"], "backbone": cfg["backbone"], "dim": cfg["dim"],
               "width": cfg["width"], "layer3_stride": cfg["layer3_stride"], "seed": seed}
    if val is not None:
        key_cfg.update(val=val["key"], val_every=cfg["val_every"], selection=select)
    V, A = split["visual"], split["audio"]
    curve, trained, best = [], {}, {"ciou": -1.0, "step": None, "state": None}

    def record(step: int) -> None:
        if val is None or (step % cfg["val_every"] and step != epochs * per_epoch):
            return
        m = trained["model"]
        m.eval()
        with torch.no_grad():
            curve.append([step, float(evaluate_maps(predict(m, val, cfg), val["gt"].numpy(), rule="median")["ciou"])])
        if select == "val" and curve[-1][1] > best["ciou"]:
            best.update(ciou=curve[-1][1], step=step, state={k: v.detach().clone() for k, v in m.state_dict().items()})
        m.train()

    def batches(epoch):
        g = torch.Generator().manual_seed(seed * 100_003 + epoch)
        order = torch.randperm(split["n"], generator=g)
        for k in range(per_epoch):                      # drop the last incomplete batch
            idx = order[k * bs:(k + 1) * bs]
            yield V[idx], A[idx]
            record(epoch * per_epoch + k + 1)           # resumed after fit's step on this batch

    def loss_fn(model, batch):
        return lvs_loss(*model(*_prep(batch, cfg["backbone"])), loss_cfg)

    def train(model):
        trained["model"] = model
        hist = fit(model, batches, loss_fn, epochs=epochs, lr=cfg["lr"], device=device, progress=False)
        if best["state"] is not None:
            model.load_state_dict(best["state"])
        return {"loss": hist.loss, "epochs": epochs, "steps": epochs * per_epoch, "val_ciou": curve,
                "best_step": best["step"] if select == "val" else epochs * per_epoch}

    model, results, _ = train_or_load(f"lvs-{method}", key_cfg, lambda: build_model(cfg, split), train,
                                      modules=MODULES, seed=seed, verbose=False)
    return model.to(device), results


def predict(model, split: dict, cfg: dict) -> torch.Tensor:
    """Each test clip's own correspondence map ``S_{i→i}`` ``(N, h, w)``."""
    if cfg["backbone"] == "resnet18":
        device = next(model.parameters()).device
        out = [heatmaps(model, _frames_to_input(split["visual"][k:k + 128].to(device)),
                        split["audio"][k:k + 128].float()) for k in range(0, split["n"], 128)]
        return torch.cat(out)
    return heatmaps(model, split["visual"].float(), split["audio"].float())


def false_positives(maps: torch.Tensor, split: dict) -> dict:
    """How much of the heat falls on silent objects (the paper's "no false positives" claim).

    ``fp_peak``: fraction of images (with ≥ 1 silent object) whose heatmap peak lies on a silent
    object; ``silent_in_pred``: fraction of silent-object pixels inside the top-50 % prediction
    (0.5 ≈ no preference).
    """
    S = split["gt"].shape[-1]
    up = resize_maps(maps, S).flatten(1)
    silent = split["silent"].flatten(1)
    has = silent.any(1)
    if not bool(has.any()):
        return {"fp_peak": float("nan"), "silent_in_pred": float("nan")}
    peak = up.argmax(1)
    on_silent = silent[torch.arange(len(up)), peak]
    thr = up.kthvalue(up.shape[1] // 2 + 1, dim=1, keepdim=True).values   # sorted[:, H*W // 2], no full sort
    pred = up > thr
    frac = (pred & silent).sum(1).float() / silent.sum(1).clamp_min(1)
    return {"fp_peak": float(on_silent[has].float().mean()), "silent_in_pred": float(frac[has].mean())}


def evaluate(model, split: dict, cfg: dict) -> dict:
    """cIoU (success rate at 0.5), AUC, per-image cIoU and the false-positive measures."""
    maps = predict(model, split, cfg)
    res = evaluate_maps(maps, split["gt"].numpy(), rule="median")
    res.update(false_positives(maps, split))
    return res


def run_grid(rows: list[dict], splits: dict, cfg: dict, device, keep_models: bool = False, val: dict | None = None):
    """Train-or-load every row and evaluate it on its test splits (each model records its learning
    curve on ``val``, by default ``splits["val"]`` where there is one, and is selected on it:
    :func:`train_one`, columns ``val_ciou`` and ``best_step``).

    Each row: ``{"method", "train" (a key of splits), "seed", "tests" (keys), "overrides" (dict),
    **labels}``. Returns a DataFrame (one line per row × test) and, with ``keep_models``, a
    dict ``(method, train, seed, overrides) → model``.
    """
    val = splits.get("val") if val is None else val
    records, models = [], {}
    for row in rows:
        overrides = row.get("overrides", {})
        model, res = train_one(row["method"], splits[row["train"]], row["seed"], cfg, device, overrides, val)
        if keep_models:
            models[(row["method"], row["train"], row["seed"], json.dumps(overrides, sort_keys=True))] = model
        for test in row["tests"]:
            ev = evaluate(model, splits[test], cfg)
            rec = {k: v for k, v in row.items() if k not in ("tests", "overrides")}
            rec.update(overrides=json.dumps(overrides, sort_keys=True), test=test, ciou=ev["ciou"], auc=ev["auc"],
                       fp_peak=ev["fp_peak"], silent_in_pred=ev["silent_in_pred"], final_loss=res["loss"][-1],
                       best_step=res.get("best_step"), **({"val_ciou": res["val_ciou"]} if val is not None else {}))
            records.append(rec)
    df = pd.DataFrame(records)
    return (df, models) if keep_models else df
