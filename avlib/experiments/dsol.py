"""The DSOL chapter's train-or-load runner (Hu et al. 2020): data, training, evaluation, grids.

- :func:`settings` — sizes, epochs and seeds per scale (``smoke`` / ``book`` / ``paper``).
- :func:`load_data` — the world's ``cocktail`` splits, or a real ``data_root`` recognised by its layout
  (:func:`data_layout`): MUSIC (official test frames) or AudioSet-instrument (its test boxes and
  solo/multi partitions), skips counted in ``data["skipped"]``; with the frozen world-pretrained
  features cached in memory; ``data["identity"]`` (:func:`~avlib.repro.data_identity`) is in every
  cache key.
- :data:`PAPER_TABLE1` / :data:`PAPER_TABLE2` and :func:`paper_sets` — the paper's numbers per test
  set, and which of its sets a chapter run is compared with (MUSIC's for the world and MUSIC,
  AudioSet-instrument's for AudioSet-instrument).
- :func:`run_dsol` — stage one then stage two for one :class:`~avlib.models.dsol.DSOLConfig`
  and seed (train-or-load, keyed by the config), evaluated on solo (IoU@0.5, AUC, NMI),
  mosaics and duets (CIoU@0.3, AUC, NSA).
- :func:`run_baseline` — the class-agnostic Object-that-sound-style and Attention-style maps.
- :func:`summarise` — mean ± std over seeds as a table.
"""
from __future__ import annotations

from pathlib import Path


import numpy as np
import pandas as pd
import torch

from ..audio import image_to_tensor
from ..features import encode_audio, encode_frames, pretrained_encoders
from ..metrics.clustering import match_by_fraction, nmi
from ..metrics.localization import box_mask, evaluate_maps
from ..metrics.sounding import evaluate_class_maps
from ..models import dsol as M
from ..models.dsol_baselines import BaselineNet, LVSBaseline
from ..models.encoders import VisualEncoder
from ..repro import data_identity, pick, resolve_device
from ..scorecard import mean_std
from ..sources import dependencies
from ..train import batches, train_or_load
from ..world import Cocktail

DATA_VERSION = 1
#: the avlib files this runner imports, transitively: the cache key of its models
MODULES = dependencies(__name__)
#: what a MUSIC ``data_root`` must hold (checked in the chapter's first cells)
#: (``synthetic/`` is optional: without it MUSIC-Synthetic is built from MUSIC-solo, seeded)
DATA_LAYOUT = {"name": "MUSIC (DSOL)",
               "all_of": ["solotest.json", "duettest.json", "MUSIC_solo_videos.json", "solo/video_frames",
                          "duet/video_frames"],
               "doc": "avlib/datasets/music.py and data/README.md"}
#: what an AudioSet-instrument ``data_root`` must hold; recognised by its ``audioset_box.json``
AUDIOSET_LAYOUT = {"name": "AudioSet-instrument (DSOL)",
                   "all_of": ["audioset_box.json", "video_frames", "audio",
                              "audioset_single/single_train_data.pkl", "audioset_single/single_train_data_label.pkl",
                              "audioset_multi/multi_train_data.pkl", "audioset_multi/multi_train_data_label.pkl"],
                   "doc": "avlib/datasets/audioset_instrument.py and data/README.md"}
BACKBONES = ("pretrained", "scratch", "resnet18")
SILENT_COUNTS = (1, 2, 3, 5, 7)


def is_audioset(data_root) -> bool:
    """Whether ``data_root`` is an AudioSet-instrument folder (it holds ``audioset_box.json``)."""
    return data_root is not None and (Path(data_root) / "audioset_box.json").is_file()


def data_layout(data_root) -> dict:
    """The layout ``data_root`` is checked against: AudioSet-instrument's when it holds
    ``audioset_box.json``, else MUSIC's (:data:`DATA_LAYOUT`, whose error names what is missing)."""
    return AUDIOSET_LAYOUT if is_audioset(data_root) else DATA_LAYOUT


def dataset_name(data_root) -> str:
    """``"world"``, ``"AudioSet-instrument"`` or ``"MUSIC"``: the name the chapter's tables and claims carry."""
    return "world" if data_root is None else "AudioSet-instrument" if is_audioset(data_root) else "MUSIC"


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


def settings(scale: str) -> dict:
    """Dataset sizes, epochs and default seeds for a scale."""
    return {
        "n_solo_train": pick(scale, smoke=72, book=630, paper=7200),
        "n_mix_train": pick(scale, smoke=36, book=480, paper=4800),    # mosaics and duets, each
        "n_test": pick(scale, smoke=27, book=180, paper=900),
        "n_silent_test": pick(scale, smoke=12, book=90, paper=450),
        "stage1_epochs": pick(scale, smoke=2, book=12, paper=15),
        "stage2_epochs": pick(scale, smoke=1, book=8, paper=15),
        "lr": pick(scale, smoke=1e-3, book=1e-3, paper=1e-4),
        "seeds": pick(scale, smoke=[0], book=[0, 1, 2, 3, 4], paper=[0, 1, 2]),
        "encoder_scale": pick(scale, smoke="smoke", book="book", paper="paper"),
        "scale": scale,
    }


# ---- data -----------------------------------------------------------------------------------

def _world_tasks(sc: dict) -> dict:
    n, t = sc["n_mix_train"], sc["n_test"]
    tasks = {"solo_train": Cocktail(sc["n_solo_train"], seed=100, kind="solo"),
             "mosaic_train": Cocktail(n, seed=101, kind="mosaic"), "duet_train": Cocktail(n, seed=102, kind="duet"),
             "solo_test": Cocktail(t, seed=200, kind="solo"), "mosaic_test": Cocktail(t, seed=201, kind="mosaic"),
             "duet_test": Cocktail(t, seed=202, kind="duet")}
    for k in SILENT_COUNTS:
        tasks[f"silent{k}_test"] = Cocktail(sc["n_silent_test"], seed=300 + k, kind="mosaic", n_silent=k)
    return tasks


def _music_tasks(data_root, sc: dict) -> dict:
    """The MUSIC splits (:class:`~avlib.datasets.music.Music`): official test frames, subsampled to
    the scale's sizes (all at ``paper``), and the training frames of the other videos. Without the
    released ``synthetic/`` folder, MUSIC-Synthetic is built from the solo frames
    (:class:`~avlib.datasets.music_synthetic.BuiltSynthetic`: test mosaics from the solo test frames,
    seed 0; training mosaics from the solo training frames, seed 1), and the skip table says so."""
    from ..datasets.music import Music
    from ..datasets.music_synthetic import BuiltSynthetic
    big = sc["scale"] == "paper"
    n_test, n_solo, n_mix = (None, None, None) if big else (sc["n_test"], sc["n_solo_train"], sc["n_mix_train"])
    tasks = {"solo_train": Music(data_root, "solo", "train", keep=n_solo),
             "solo_test": Music(data_root, "solo", "test", keep=n_test)}
    if (Path(data_root) / "synthetic").is_dir():
        tasks.update(mosaic_train=Music(data_root, "synthetic", "train", keep=n_mix),
                     mosaic_test=Music(data_root, "synthetic", "test", keep=n_test))
    else:
        for split, n, seed in (("train", n_mix, 1), ("test", n_test, 0)):
            solo = Music(data_root, "solo", split)
            tasks[f"mosaic_{split}"] = BuiltSynthetic(solo, n if n is not None else len(solo) // 4, seed=seed)
    tasks.update(duet_train=Music(data_root, "duet", "train", keep=n_mix),
                 duet_test=Music(data_root, "duet", "test", keep=n_test))
    return tasks


def _audioset_tasks(data_root, sc: dict) -> dict:
    """The AudioSet-instrument splits (:class:`~avlib.datasets.audioset_instrument.AudioSetInstrument`):
    stage one trains on the solo partition (``audioset_single/single_train_data.pkl``), stage two on the
    multi-source partition (``audioset_multi/multi_train_data.pkl``) only, as the official
    ``training_stage_two.py``; the test frames of ``audioset_box.json`` with one box are the solo test
    (Table 1(b)), those with two or more the multi-source test (Table 2's AudioSet-multi, in the
    ``duet`` slot). There is no AudioSet synthetic set: test mosaics are built from all the one-box
    test frames (:class:`~avlib.datasets.music_synthetic.BuiltSynthetic`, seed 0; ours only), and the
    skip table says so. Subsampled to the scale's sizes (all at ``paper``)."""
    from ..datasets.audioset_instrument import AudioSetInstrument as A
    from ..datasets.music_synthetic import BuiltSynthetic
    big = sc["scale"] == "paper"
    n_test, n_solo, n_mix = (None, None, None) if big else (sc["n_test"], sc["n_solo_train"], sc["n_mix_train"])
    solo = A(data_root, split="test", sources="solo")
    return {"solo_train": A(data_root, split="solo_train", keep=n_solo),
            "solo_test": A(data_root, split="test", sources="solo", keep=n_test),
            "mosaic_test": BuiltSynthetic(solo, n_test if n_test is not None else len(solo) // 4, seed=0,
                                          source="AudioSet-instrument one-box", entry="synthetic set"),
            "duet_train": A(data_root, split="multi_train", keep=n_mix),
            "duet_test": A(data_root, split="test", sources="multi", keep=n_test)}


def skip_table(tasks: dict) -> pd.DataFrame:
    """Per real split: the candidates, what was skipped and why (frames; dropped boxes; whether the
    annotation file is the released one; labels read with a note, their frames kept), and what the scale kept."""
    rows = []
    for name, ds in tasks.items():
        log = getattr(ds, "skipped", None)
        if log is None:
            continue
        notes, kept = getattr(ds, "box_notes", None), getattr(ds, "label_notes", None)
        counts = {**(log.counts() or {"—": 0}), **(notes.counts() if notes else {})}
        # a label note keeps its frames (AudioSet's argmax of a several-class solo label): named, not counted
        counts.update({f"note, frames kept: {r}: {n} clip{'s' * (n > 1)}": 0
                       for r, n in (kept.counts() if kept else {}).items()})
        counts.update({f"{file}: {status}": 0 for file, status in log.files.items()})
        for reason, n in counts.items():
            rows.append({"split": name, "candidates": ds.total, "reason skipped": reason, "skipped": n,
                         "used at this scale": len(ds)})
    return pd.DataFrame(rows)


def _data_key(data: dict) -> dict:
    """The data's identity for a cache key: nothing on the world (its keys, and so its cached
    models, stay as they were), ``{"data_id": "real-<fingerprint>"}`` on real files."""
    ident = data.get("identity", "world")
    return {} if ident == "world" else {"data_id": ident}


_CACHE: dict = {}
#: how many models this process trained and how many it loaded from the train-or-load cache
CACHE_STATS = {"trained": 0, "loaded": 0}


def _count(hit: bool) -> None:
    CACHE_STATS["loaded" if hit else "trained"] += 1


def load_data(scale: str, data_root=None, device="cpu") -> dict:
    """Every split as a dict: ``frames`` (uint8), ``vfeat`` (N, C, 7, 7), ``afeat`` (N, D),
    ``objects``, ``sounding``, ``silent``, ``labels`` (solo), ``boxes``. Cached per process.

    ``data_root``: None (the world), a MUSIC folder, or an AudioSet-instrument folder (recognised by its
    ``audioset_box.json``, :func:`data_layout`; no mosaic training split there, so ``mix_train`` is the
    multi-source partition alone). ``data["skipped"]`` is :func:`skip_table`."""
    identity = data_identity(data_root)
    if is_audioset(data_root):   # the folder fingerprint counts .pkl files by size: add the partitions' contents
        from ..datasets.audioset_instrument import partition_digest
        identity = f"{identity}-{partition_digest(data_root)}"
    key = (scale, str(data_root), identity)
    if key in _CACHE:
        return _CACHE[key]
    sc = settings(scale)
    enc = pretrained_encoders(sc["encoder_scale"], device)
    tasks = _world_tasks(sc) if data_root is None else \
        _audioset_tasks(data_root, sc) if is_audioset(data_root) else _music_tasks(data_root, sc)
    data = {"classes": tasks["solo_train"].classes,
            "encoders": enc, "identity": identity, "skipped": skip_table(tasks)}
    for name, task in tasks.items():
        samples = [task[i] for i in range(len(task))]
        frames = np.stack([s["frame"] for s in samples])
        audio = np.stack([s["audio"] for s in samples])
        split = {"frames": frames,
                 "vfeat": torch.from_numpy(encode_frames(enc.visual, frames)).permute(0, 3, 1, 2).contiguous(),
                 "afeat": torch.from_numpy(encode_audio(enc.audio, audio)),
                 "objects": [s["objects"] for s in samples],
                 "sounding": [s["sounding_classes"] for s in samples],
                 "silent": [s["silent_classes"] for s in samples]}
        if name.startswith("solo"):
            split["labels"] = np.array([s["sounding_classes"][0] for s in samples])
            if all(s["objects"] for s in samples):   # real training frames have a label, no box
                split["boxes"] = np.array([s["objects"][0]["box"] for s in samples])
        data[name] = split
    parts = [data[n] for n in ("mosaic_train", "duet_train") if n in data]   # AudioSet: multi-source only
    data["mix_train"] = {k: (torch.cat([p[k] for p in parts]) if torch.is_tensor(v)
                             else np.concatenate([p[k] for p in parts]) if isinstance(v, np.ndarray)
                             else sum((p[k] for p in parts[1:]), v))
                         for k, v in parts[0].items()}
    data["num_classes"] = len(data["classes"])
    data["image_size"] = int(data["solo_test"]["frames"].shape[1])
    _CACHE[key] = data
    return data


def visual_input(split: dict, backbone: str) -> torch.Tensor:
    """Cached frozen features for the pretrained backbone; normalised pixels otherwise."""
    return split["vfeat"] if backbone == "pretrained" else image_to_tensor(split["frames"])


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
    Both stages train on ``device`` (the features stay on the CPU; batches are moved).
    """
    device = resolve_device(device)
    sc = settings(scale)
    base = dict(stage1_epochs=sc["stage1_epochs"], stage2_epochs=sc["stage2_epochs"], lr=sc["lr"],
                n_clusters=data["num_classes"], seed=seed)
    cfg = M.DSOLConfig(**{**base, **overrides})
    S, Kc = data["image_size"], data["num_classes"]
    solo, mix = data["solo_train"], data["mix_train"]
    common = {"scale": scale, "backbone": backbone, "data": DATA_VERSION, **_data_key(data), "n": len(solo["afeat"])}
    stage1, hist1, hit1 = train_or_load(
        "dsol-stage1", {**common, **_stage_one_fields(cfg)}, lambda: build_model(cfg, data, backbone).to(device),
        lambda m: M.train_stage_one(m, visual_input(solo, backbone), solo["afeat"]),
        modules=MODULES, seed=seed, verbose=False)
    _count(hit1)
    stage1.to(device)
    # cluster → class alignment on the stage-one training set (evaluation only)
    tr = M.infer(stage1, visual_input(solo, backbone), solo["afeat"])
    mapping = match_by_fraction(M.assign_clusters(stage1, tr["object"]), solo["labels"], cfg.n_clusters, Kc)
    te = {k: v.cpu() for k, v in M.infer(stage1, visual_input(data["solo_test"], backbone),
                                         data["solo_test"]["afeat"]).items()}
    out = {"seed": seed, **eval_single(te["lmap"], data["solo_test"], S),
           "nmi": nmi(data["solo_test"]["labels"], M.assign_clusters(stage1, te["object"]))}

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
        lambda m: M.train_stage_two(m, vin(mix), mix["afeat"]),
        modules=MODULES, seed=seed, verbose=False)
    _count(hit2)
    stage2.to(device)
    for name in splits:
        split = data[name]
        s, _ = M.predict_class_maps(stage2, vin(split), split["afeat"])
        r = eval_multi(M.cluster_maps_to_classes(s, mapping, Kc), split, S, name)
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
                 device: torch.device | str = "cpu") -> dict:
    """Object-that-sound-style (``"ots"``), Attention-style (``"attention"``) or the LVS chapter's
    model (``"lvs"``, :mod:`avlib.models.lvs`) trained on solo (on ``device``), then its one
    class-agnostic map used for every class of the multi-source scenes."""
    device = resolve_device(device)
    sc = settings(scale)
    solo, S = data["solo_train"], data["image_size"]
    C, D = solo["vfeat"].shape[1], solo["afeat"].shape[1]
    cfg = {"kind": kind, "epochs": sc["stage1_epochs"], "lr": sc["lr"], "seed": seed, "scale": scale,
           "data": DATA_VERSION, **_data_key(data), "n": len(solo["afeat"])}

    def train(m):
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(m.parameters(), lr=cfg["lr"], weight_decay=1e-4)
        losses = []
        for e in range(cfg["epochs"]):
            m.train()
            for vb, ab in batches(solo["vfeat"], solo["afeat"], batch_size=32, shuffle=True, seed=seed * 1000 + e):
                opt.zero_grad(set_to_none=True)
                loss = m.loss(vb.to(device), ab.to(device), gen)
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
        return {"loss": losses}

    build = (lambda: LVSBaseline(C, D).to(device)) if kind == "lvs" else \
        (lambda: BaselineNet(kind, C, D).to(device))
    model, _, hit = train_or_load(f"dsol-baseline-{kind}", cfg, build, train,
                                  modules=MODULES, seed=seed,
                                  verbose=False)
    _count(hit)
    model.to(device)
    out = {"seed": seed, **eval_single(model.maps(data["solo_test"]["vfeat"], data["solo_test"]["afeat"]),
                                       data["solo_test"], S)}
    for name in splits:
        split = data[name]
        m = model.maps(split["vfeat"], split["afeat"])
        class_maps = m[:, None].expand(-1, data["num_classes"], -1, -1)
        r = eval_multi(class_maps, split, S, name)
        out.update({f"{name.removesuffix('_test')}/{k}": v for k, v in r.items()})
    return out


# ---- tables -----------------------------------------------------------------------------------

def run_rows(rows: dict, seeds, fn, device=None) -> pd.DataFrame:
    """Run ``fn(seed=..., **row_kwargs)`` (and ``device=device`` when given) for every row and seed;
    a long DataFrame of metrics."""
    extra = {} if device is None else {"device": device}
    records = [{"row": name, **{k: v for k, v in fn(seed=seed, **kw, **extra).items() if np.isscalar(v)}}
               for name, kw in rows.items() for seed in seeds]
    return pd.DataFrame(records)


def summarise(df: pd.DataFrame, metrics, percent=True, order=None) -> pd.DataFrame:
    """Mean ± std over seeds per row (:func:`avlib.scorecard.mean_std`; metrics ×100 when
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
