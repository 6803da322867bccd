"""Experiment runner for the Parekh et al. (2018) chapter: features once, then a train-or-load grid.

1. :func:`make_splits` — train / val / test as world ``weak_multilabel`` tasks (or DCASE 2017
   task 4 when ``data_root`` is set). World training clips follow DCASE's skewed training
   distribution (``skew=1``); validation and test clips are class-balanced (``skew=0``), as
   DCASE's testing and evaluation sets roughly are.
2. :func:`extract_features` — per clip: ``m_img`` proposals on each of the 10 frames
   (:func:`avlib.proposals.edge_box_proposals`), RoI-aligned (``spatial_scale`` 1/16) on the
   frozen visual encoder's 7×7 map and flattened; 20 audio windows embedded by the frozen
   audio encoder. Cached under ``data/cache`` keyed by the task, the encoders and the config.
3. :func:`run_grid` — the Table 1 systems × seeds: train (class-balanced batches, Adam,
   model selection on validation micro-F1) or load, score the test split with thresholds
   tuned on validation, and measure localization against the world's exact truth.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import torch
from torchvision.ops import roi_align
from tqdm.auto import tqdm

from ..audio import image_to_tensor
from ..datasets.dcase import SPLIT_FILES
from ..metrics.multilabel import evaluate_tagging, micro_prf, apply_thresholds, tune_thresholds
from ..models.mil import MILNet, class_balanced_batches
from ..proposals import audio_window_times, audio_windows, edge_box_proposals, box_iou_matrix, window_truth
from ..repro import data_identity, pick
from ..sources import dependencies, source_hash
from ..stacked import fit_stacked, train_or_load_stacked
from ..train import DEFAULT_CACHE, atomic_save
from ..workers import default_workers, run_jobs

#: the avlib files this runner imports, transitively: the cache key of its models and features
MODULES = dependencies(__name__)
#: what a DCASE 2017 task 4 ``data_root`` must hold (checked in the chapter's first cells)
DATA_LAYOUT = {"name": "DCASE 2017 task 4", "all_of": list(SPLIT_FILES.values()),
               "doc": "avlib/datasets/dcase.py and data/README.md"}

FEATURES_VERSION = 1
SYSTEMS = {  # Table 1 rows (a)–(e) as settings of one module
    "AV two-stream": {"modality": "av", "stream": "two_stream"},
    "TS audio-only": {"modality": "audio", "stream": "two_stream"},
    "TS video-only": {"modality": "visual", "stream": "two_stream"},
    "TS video-only WSDDN-type": {"modality": "visual", "stream": "wsddn"},
    "AV one-stream": {"modality": "av", "stream": "one_stream"},
}
PAPER_TABLE1 = {  # Parekh et al. (2018), Table 1, DCASE 2017 task 4 test set: F1, precision, recall (%)
    "AV two-stream": (64.2, 59.7, 69.4), "TS audio-only": (57.3, 53.2, 62.0), "TS video-only": (47.3, 48.5, 46.1),
    "TS video-only WSDDN-type": (48.8, 47.6, 50.1), "AV one-stream": (55.3, 50.4, 61.2),
    "CVSSP fusion system": (55.6, 61.4, 50.8), "CVSSP Gated-CRNN-logMel": (54.2, 58.9, 50.2),
}
PAPER_TABLE2_CLASSES = ("bik", "bus", "car", "car-pby", "mbik", "skt", "trn", "trk", "air-hrn", "amb", "car-alm",
                        "civ-def", "F-eng", "pol-car", "rv-bps", "scrm", "trn-hrn")
PAPER_TABLE2 = {  # Table 2: class-wise F1 (%) on the DCASE test set
    "AV two-stream": (75.7, 54.9, 75.0, 34.6, 76.2, 78.6, 82.0, 61.5, 40.0, 64.7, 53.9, 80.4, 64.4, 49.2, 36.6, 81.1, 47.1),
    "TS audio-only": (42.1, 38.8, 69.8, 29.6, 68.9, 64.9, 78.5, 44.0, 40.4, 58.2, 53.0, 79.6, 61.0, 51.4, 42.9, 72.1, 46.9),
    "TS video-only": (72.5, 52.0, 61.2, 15.0, 54.1, 64.2, 73.3, 49.7, 12.0, 33.9, 13.5, 68.6, 46.5, 19.8, 21.8, 44.1, 32.1),
    "AV one-stream": (68.2, 53.6, 74.1, 25.6, 67.1, 74.4, 82.8, 52.8, 28.0, 54.7, 20.6, 76.6, 60.4, 56.3, 18.8, 49.4, 36.2),
    "CVSSP fusion system": (40.5, 39.7, 72.9, 27.1, 63.5, 74.5, 79.2, 52.3, 63.7, 35.6, 72.9, 86.4, 65.7, 63.8, 60.3, 91.2, 73.6),
}
# world class → its DCASE analogue in Table 2 (None: no counterpart)
DCASE_ANALOGUE = {"train horn": "trn-hrn", "truck horn": "air-hrn", "car alarm": "car-alm", "police car": "pol-car",
                  "ambulance": "amb", "fire engine": "F-eng", "baby": "scrm", "bicycle": "bik", "skateboard": "skt",
                  "car": "car", "bus": "bus", "truck": "trk", "motorcycle": "mbik", "train": "trn",
                  "airplane": None, "helicopter": None, "alarm clock": "rv-bps"}
VEHICLES = {"bicycle", "skateboard", "car", "bus", "truck", "motorcycle", "train", "airplane", "helicopter",
            "Bicycle", "Skateboard", "Car", "Car passing by", "Bus", "Truck", "Motorcycle", "Train"}


def settings(scale: str) -> dict:
    """Sizes and hyperparameters per scale (``paper``: the paper's Sec. 4 values)."""
    return {
        "n_train": pick(scale, smoke=48, book=800, paper=48715),
        "n_val": pick(scale, smoke=24, book=200, paper=462),
        "n_test": pick(scale, smoke=24, book=400, paper=1103),
        "m_img": pick(scale, smoke=4, book=10, paper=10),          # ~100 regions per 10 s video
        "roi": pick(scale, smoke=1, book=1, paper=2),              # RoI-align output (roi × roi × 128)
        "visual_hidden": pick(scale, smoke=32, book=128, paper=4096),  # fc6 / fc7 width
        "audio_hidden": 128, "dropout": 0.5, "lse_r": 5.0,
        "batch_size": 24,
        "iterations": pick(scale, smoke=8, book=600, paper=25000),
        "lr": pick(scale, smoke=1e-3, book=1e-3, paper=1e-5),
        "seeds": pick(scale, smoke=[0], book=[0, 1, 2, 3, 4], paper=[0, 1, 2]),
        # the world's calibration (calibrate_world): split sizes of each search step, seed 0, and the steps
        "calibration": pick(scale, smoke={"n_train": 48, "n_val": 24, "n_test": 24, "steps": 2},
                            book={"n_train": 400, "n_val": 100, "n_test": 200, "steps": 4},
                            paper={"n_train": 4000, "n_val": 462, "n_test": 1103, "steps": 5}),
        "world_seed": 0, "encoder_scale": "smoke" if scale == "smoke" else scale,
        # real data (DCASE 2017 task 4): a fixed subsample of each split's available clips (paper: all)
        "real_sizes": pick(scale, smoke={"train": 48, "val": 24, "test": 24},
                           book={"train": 800, "val": 200, "test": 400},
                           paper={"train": None, "val": None, "test": None}),
    }


def make_splits(cfg: dict, data_root=None, **knobs) -> dict:
    """{"train", "val", "test"} tasks: the world's ``weak_multilabel`` (``knobs`` passed to all
    three, e.g. ``snr_db``) or DCASE 2017 task 4: clips with missing media skipped and counted
    (``task.skipped``), ``cfg["real_sizes"]`` of the rest kept, keyed by the data's fingerprint."""
    if data_root is not None:
        from ..datasets.dcase import DCASE2017Task4
        identity = data_identity(data_root)
        return {s: DCASE2017Task4(data_root, s, missing="skip", size=cfg["real_sizes"][s], seed=cfg["world_seed"],
                                  identity=identity) for s in ("train", "val", "test")}
    from ..world import WeakMultilabel
    s = cfg["world_seed"]
    return {"train": WeakMultilabel(cfg["n_train"], seed=s, skew=1.0, **knobs),
            "val": WeakMultilabel(cfg["n_val"], seed=s + 1, skew=0.0, **knobs),
            "test": WeakMultilabel(cfg["n_test"], seed=s + 2, skew=0.0, **knobs)}


def skip_summary(splits: dict):
    """One row per split: clips in the official list, skipped (missing media), available, used, and
    whether the label file is the released one (a file cut short reads as fewer clips than released)."""
    import pandas as pd
    return pd.DataFrame({k: {"listed": t.listed, "skipped": len(t.skipped), "available": t.available, "used": t.n,
                             "label file": t.file_status}
                         for k, t in splits.items()}).T


def _truth_boxes(objects, T, C):
    boxes = np.full((T, C, 4), -1, np.int16)
    for t, objs in enumerate(objects):
        for o in objs:
            boxes[t, o["class"]] = o["box"]
    return boxes


@torch.no_grad()
def _encode_chunk(samples, encoders, cfg):
    frames = np.stack([s["frames"] for s in samples])                 # (n, T, H, W, 3)
    n, T = frames.shape[:2]
    flat = frames.reshape(n * T, *frames.shape[2:])
    boxes, obj = edge_box_proposals(flat, cfg["m_img"])               # (n·T, m, 4)
    device = next(encoders.visual.parameters()).device
    fmap = encoders.visual(image_to_tensor(flat).to(device))          # (n·T, C, 7, 7), stride 16
    rois = torch.cat([torch.arange(n * T).repeat_interleave(cfg["m_img"])[:, None].float(),
                      torch.from_numpy(boxes.reshape(-1, 4))], 1).to(device)
    pooled = roi_align(fmap, rois, output_size=cfg["roi"], spatial_scale=1 / 16, sampling_ratio=2, aligned=True)
    vis = pooled.flatten(1).reshape(n, T * cfg["m_img"], -1).cpu()
    wins = torch.cat([audio_windows(s["audio"]) for s in samples]).to(device)   # (n·20, 1, 64, 96)
    aud = encoders.audio(wins).reshape(n, -1, encoders.audio.dim).cpu()
    return vis.half(), aud, boxes.reshape(n, T, cfg["m_img"], 4).astype(np.int16), obj.reshape(n, T, -1)


def extract_features(task, encoders, cfg: dict, cache_dir=None, chunk: int = 25, desc=None) -> dict:
    """Proposal features of every clip of a split (cached): ``visual`` (N, 10·m_img, 128·roi²) float16,
    ``audio`` (N, 20, 128), ``labels`` (N, C), ``boxes`` (N, 10, m_img, 4); for the world also the
    truth ``audio_on`` / ``visual_on`` (N, 10, C) and ``gt_boxes`` (N, 10, C, 4) (−1: not visible)."""
    cache_dir = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
    key_cfg = {"task": task.name, "n": task.n, "seed": task.seed, "config": repr(task.config), "enc": encoders.key,
               "m_img": cfg["m_img"], "roi": cfg["roi"], "version": FEATURES_VERSION,
               "src": source_hash(*MODULES)}
    key = hashlib.sha256(json.dumps(key_cfg, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir / f"mil-features-{key}.pt"
    if path.exists():
        return torch.load(path, weights_only=False)
    parts = {k: [] for k in ("visual", "audio", "boxes", "objectness", "labels", "audio_on", "visual_on", "gt_boxes")}
    for start in tqdm(range(0, task.n, chunk), desc=desc or f"features {task.name}", leave=False):
        samples = [task[i] for i in range(start, min(task.n, start + chunk))]
        vis, aud, boxes, obj = _encode_chunk(samples, encoders, cfg)
        for k, v in zip(("visual", "audio", "boxes", "objectness"), (vis, aud, boxes, obj)):
            parts[k].append(v)
        parts["labels"].append(np.stack([s["labels"] for s in samples]))
        if samples[0].get("audio_on") is not None:
            C = len(samples[0]["labels"])
            parts["audio_on"].append(np.stack([s["audio_on"] for s in samples]))
            parts["visual_on"].append(np.stack([s["visual_on"] for s in samples]))
            parts["gt_boxes"].append(np.stack([_truth_boxes(s["objects"], len(s["frames"]), C) for s in samples]))
    cat = lambda v: torch.cat(v) if torch.is_tensor(v[0]) else np.concatenate(v)  # noqa: E731
    feats = {k: cat(v) for k, v in parts.items() if v}
    feats.update(classes=list(task.classes), key=key)
    atomic_save(feats, path)
    return feats


def proposal_recall_stats(feats: dict, iou: float = 0.5) -> dict:
    """Recall of the proposals against every true box of every frame (world only)."""
    hits = total = 0
    for n in range(len(feats["labels"])):
        for t in range(feats["boxes"].shape[1]):
            gt = feats["gt_boxes"][n, t]
            gt = gt[gt[:, 0] >= 0]
            if len(gt):
                hits += int((box_iou_matrix(gt, feats["boxes"][n, t]).max(1) >= iou).sum())
                total += len(gt)
    return {"recall": hits / max(total, 1), "boxes": total, "iou": iou}


def build_model(system: str, cfg: dict, num_classes: int, visual_dim: int) -> MILNet:
    return MILNet(num_classes, visual_dim, 128, visual_hidden=cfg["visual_hidden"], audio_hidden=cfg["audio_hidden"],
                  dropout=cfg["dropout"], lse_r=cfg["lse_r"], **SYSTEMS[system])


@torch.no_grad()
def predict(model: MILNet, feats: dict, batch: int = 200, keep_proposals: bool = False) -> dict:
    """Video scores (N, C) and, with ``keep_proposals``, the proposal scores D of each modality."""
    model.eval()
    dev = next(model.parameters()).device
    out = {"score": []}
    for s in range(0, len(feats["labels"]), batch):
        o = model(feats["visual"][s:s + batch].to(dev), feats["audio"][s:s + batch].to(dev))
        out["score"].append(o["score"].float().cpu())
        if keep_proposals:
            for k in ("visual_D", "audio_D"):
                if k in o:
                    out.setdefault(k, []).append(o[k].float().cpu())
    return {k: torch.cat(v).numpy() for k, v in out.items()}


def _val_f1(model, feats):
    s = predict(model, feats)["score"]
    return micro_prf(apply_thresholds(s, tune_thresholds(s, feats["labels"])), feats["labels"])["f1"]


def train_seeds(system: str, feats: dict, cfg: dict, seeds, cache_dir=None, progress: bool = False,
                device="cpu") -> dict:
    """Train-or-load one Table 1 system for several seeds: ``{seed: (model, history)}``.

    The seeds not in the cache train together (:func:`avlib.stacked.fit_stacked`): each seed keeps
    its own initial weights, class-balanced batches (seed ``1000 seed + epoch``), dropout masks and
    best validation epoch, as if it trained alone.
    """
    tr, va = feats["train"], feats["val"]
    C, dv = tr["labels"].shape[1], tr["visual"].shape[-1]
    per_epoch = max(1, len(tr["labels"]) // cfg["batch_size"])
    epochs = max(1, round(cfg["iterations"] / per_epoch))
    step = 1000 * len(tr["labels"]) / 51172          # CVSSP's 1000-clip step, scaled to this training set
    y = torch.from_numpy(tr["labels"])
    template = build_model(system, cfg, C, dv)

    def batches(seed, epoch):
        for idx in class_balanced_batches(tr["labels"], cfg["batch_size"], per_epoch, seed * 1000 + epoch, step):
            yield tr["visual"][idx], tr["audio"][idx], y[idx]

    def train(models, todo):
        hists = fit_stacked(models, todo, batches, lambda f, b: template.loss(f(b[0], b[1]), b[2]), epochs=epochs,
                            lr=cfg["lr"], val_fn=lambda m: _val_f1(m, va), device=device, progress=progress,
                            desc=system)
        return [{"loss": h.loss, "val_f1": h.val, "best_epoch": h.best_epoch, "epochs": epochs} for h in hists]

    config = {k: cfg[k] for k in ("visual_hidden", "audio_hidden", "dropout", "lse_r", "batch_size", "iterations", "lr")}
    config.update(system=system, train=tr["key"], val=va["key"])
    out = train_or_load_stacked(f"mil-{system.replace(' ', '_')}", {s: {**config, "seed": s} for s in seeds},
                                lambda: build_model(system, cfg, C, dv), train, cache_dir=cache_dir, modules=MODULES)
    return {s: (model, hist) for s, (model, hist, _) in out.items()}


def train_system(system: str, feats: dict, cfg: dict, seed: int, cache_dir=None, progress: bool = False,
                 device="cpu"):
    """Train-or-load one Table 1 system with one seed; returns ``(model, history)``."""
    return train_seeds(system, feats, cfg, [seed], cache_dir, progress, device)[seed]


def localization(pred: dict, feats: dict, m_img: int) -> dict:
    """Beyond the paper: localization of each labelled class of each test clip against exact truth.

    Audio: the top-scoring window of class c is correct when c is audible in the second that
    holds the window's centre. Visual: the top-scoring proposal of c (over all frames) is
    correct when c is visible in that frame and the proposal's IoU with its box is ≥ 0.5.
    ``chance`` is the same for a proposal drawn uniformly; ``oracle`` (visual) whether any
    proposal of the clip would be correct. Pairs are split into ``overlap`` ones (some second
    where the class is both audible and visible) and ``disjoint`` ones (seen, never while heard).
    """
    y, aon, von, gtb = feats["labels"] > 0, feats["audio_on"], feats["visual_on"], feats["gt_boxes"]
    times = audio_window_times(aon.shape[1])
    res = {}
    rows = []
    for n, c in zip(*np.nonzero(y)):
        row = {"overlap": bool((aon[n, :, c] & von[n, :, c]).any()), "visible": bool(von[n, :, c].any())}
        if "audio_D" in pred:
            ok = window_truth(aon[n], times)[:, c]
            row["audio"], row["audio_chance"] = bool(ok[pred["audio_D"][n, :, c].argmax()]), float(ok.mean())
        if "visual_D" in pred and row["visible"]:
            boxes = feats["boxes"][n].reshape(-1, 4)
            frame = np.repeat(np.arange(aon.shape[1]), m_img)
            ok = np.array([von[n, f, c] and box_iou_matrix(gtb[n, f, c], b)[0, 0] >= 0.5 for f, b in zip(frame, boxes)])
            row["visual"], row["visual_chance"] = bool(ok[pred["visual_D"][n, :, c].argmax()]), float(ok.mean())
            row["visual_oracle"] = bool(ok.any())
        rows.append(row)
    for key in ("audio", "audio_chance", "visual", "visual_chance", "visual_oracle"):
        for subset, keep in (("all", lambda r: True), ("overlap", lambda r: r["overlap"]),
                             ("disjoint", lambda r: r["visible"] and not r["overlap"])):
            vals = [r[key] for r in rows if key in r and keep(r)]
            if vals:
                res[f"{key}_{subset}"] = float(np.mean(vals))
    return res


def recall_by_sync(pred_bin: np.ndarray, feats: dict) -> dict:
    """Recall on labelled (clip, class) pairs: ``overlap`` (audible and visible in some common
    second), ``disjoint`` (seen, but never while heard) and ``visual_missing`` (never seen)."""
    y, aon, von = feats["labels"] > 0, feats["audio_on"], feats["visual_on"]
    seen = von.any(1)
    overlap = (aon & von).any(1)
    out = {}
    for name, mask in (("overlap", y & overlap), ("disjoint", y & seen & ~overlap), ("visual_missing", y & ~seen)):
        out[f"recall_{name}"] = float(pred_bin[mask].mean()) if mask.any() else math.nan
        out[f"pairs_{name}"] = int(mask.sum())
    return out


def localization_figure(sample: dict, pred: dict, n: int, c: int, classes, m_img: int, title: str = ""):
    """Figs. 3–4: the clip's frames with each frame's top proposal for class ``c`` (edge opacity ∝
    its score), then the proposal-score and audio-segment-score heatmaps ('hot', scaled to [0, 1]),
    and the exact truth (audible / visible seconds; true boxes dashed)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    T = len(sample["frames"])
    vd = pred["visual_D"][n, :, c]
    ad = pred["audio_D"][n, :, c]
    norm = lambda x: (x - x.min()) / (x.max() - x.min() + 1e-12)  # noqa: E731
    vn, an = norm(vd), norm(ad)
    fig = plt.figure(figsize=(11, 2.9))
    gs = fig.add_gridspec(4, T, height_ratios=[3.2, .45, .45, .7], hspace=.35, wspace=.04)
    for t in range(T):
        ax = fig.add_subplot(gs[0, t])
        ax.imshow(sample["frames"][t])
        ax.set_axis_off()
        ax.set_title(f"{t} s", fontsize=9)
        for o in sample["objects"][t] if sample.get("objects") else ():
            if o["class"] == c:
                x0, y0, x1, y1 = o["box"]
                ax.add_patch(Rectangle((x0 - .5, y0 - .5), x1 - x0, y1 - y0, fill=False, ec="white", ls="--", lw=.8))
        k = int(vd[t * m_img:(t + 1) * m_img].argmax())
        x0, y0, x1, y1 = pred["boxes"][n, t, k]
        ax.add_patch(Rectangle((x0 - .5, y0 - .5), x1 - x0, y1 - y0, fill=False, ec="#39ff14", lw=2,
                               alpha=float(np.clip(vn[t * m_img + k], .05, 1))))
    for row, (vals, label) in enumerate(((vn, "proposals"), (an, "audio"))):
        ax = fig.add_subplot(gs[1 + row, :])
        ax.imshow(vals[None], aspect="auto", cmap="hot", vmin=0, vmax=1, interpolation="nearest")
        ax.set_yticks([0], [label], fontsize=9)
        ax.set_xticks([])
    ax = fig.add_subplot(gs[3, :])
    if sample.get("audio_on") is not None:
        for r, (on, color) in enumerate(((sample["audio_on"][:, c], "#ff7f0e"), (sample["visual_on"][:, c], "#1f77b4"))):
            for t in np.flatnonzero(on):
                ax.add_patch(Rectangle((t - .5, r - .4), 1, .8, color=color, lw=0))
    ax.set_xlim(-.5, T - .5)
    ax.set_ylim(1.6, -.6)
    ax.set_yticks([0, 1], ["audible", "visible"], fontsize=9)
    ax.set_xticks(range(T), [str(t) for t in range(T)], fontsize=9)
    ax.grid(axis="x", color="0.85", lw=.5)
    ax.set_xlabel("second (truth)", fontsize=9)
    fig.suptitle(title or classes[c], fontsize=9, y=1.0)
    return fig


def run_grid(feats: dict, cfg: dict, systems=None, seeds=None, cache_dir=None, keep=("AV two-stream", 0),
             device="cpu", workers: int | None = None) -> dict:
    """Every system × seed: test micro P/R/F1, per-class F1, localization; proposal scores of ``keep``.

    The systems train in ``workers`` processes (default: one per CPU core on the CPU, one on CUDA;
    :mod:`avlib.workers`), each system's seeds together (:func:`train_seeds`), with the numbers of a
    sequential run.
    """
    systems = list(systems or SYSTEMS)
    seeds = list(seeds if seeds is not None else cfg["seeds"])
    world = "audio_on" in feats["test"]

    def one(system):
        out, kept = {}, None
        for seed, (model, hist) in train_seeds(system, feats, cfg, seeds, cache_dir, device=device).items():
            pv = predict(model, feats["val"])
            pt = predict(model, feats["test"], keep_proposals=world)
            r = evaluate_tagging(pv["score"], feats["val"]["labels"], pt["score"], feats["test"]["labels"])
            r["history"] = hist
            if world:
                r["localization"] = localization(pt, feats["test"], cfg["m_img"])
                r.update(recall_by_sync(apply_thresholds(pt["score"], r["thresholds"]), feats["test"]))
            if (system, seed) == tuple(keep):
                kept = {**pt, "thresholds": np.array(r["thresholds"]), "boxes": feats["test"]["boxes"]}
            out[seed] = r
        return out, kept

    workers = default_workers(device) if workers is None else workers
    done = run_jobs(one, systems, workers=workers, desc="systems")
    results = {system: out for system, (out, _) in zip(systems, done)}
    kept = next((k for _, k in done if k is not None), {})
    return {"results": results, "kept": kept}
