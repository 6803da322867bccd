"""The DSOL chapter's data (Hu et al. 2020): sizes per scale and every split as model inputs.

- :func:`settings` — dataset sizes, epochs, validation spacing and seeds per scale.
- :func:`load_data` — the world's ``cocktail`` splits (:func:`world_tasks`, with a ``solo_val`` split for
  the learning curves), or a real ``data_root`` recognised by its layout (:func:`data_layout`): MUSIC
  (official test frames) or AudioSet-instrument (its test boxes and solo/multi partitions), skips
  counted in ``data["skipped"]`` (:func:`skip_table`); the frozen world-pretrained features cached
  in memory; ``data["identity"]`` (:func:`~avlib.repro.data_identity`) goes into every cache key.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..audio import image_to_tensor
from ..features import encode_audio, encode_frames, pretrained_encoders
from ..repro import data_identity, pick
from ..world import Cocktail

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


def settings(scale: str) -> dict:
    """Dataset sizes, epochs and default seeds for a scale."""
    return {
        "n_solo_train": pick(scale, smoke=72, book=630, paper=7200),
        "n_mix_train": pick(scale, smoke=36, book=480, paper=4800),    # mosaics and duets, each
        "n_test": pick(scale, smoke=27, book=180, paper=900),
        "n_silent_test": pick(scale, smoke=12, book=90, paper=450),
        # book: 630 clips make 20 steps an epoch (an official MUSIC epoch is thousands); stage one's
        # localization leaves the floor only after tens of epochs (the chapter's validation curves)
        "stage1_epochs": pick(scale, smoke=2, book=60, paper=15),
        #: Table 8's shared schedule: a trunk trained from pixels costs ~10x a pretrained one per epoch
        "short_stage1_epochs": pick(scale, smoke=2, book=12, paper=15),
        "val_every": pick(scale, smoke=1, book=5, paper=1),         # epochs between validation points
        "probe_epochs": pick(scale, smoke=3, book=200, paper=60),   # the chapter's long-run check, one seed
        "stage2_epochs": pick(scale, smoke=1, book=8, paper=15),
        "lr": pick(scale, smoke=1e-3, book=1e-3, paper=1e-4),
        "seeds": pick(scale, smoke=[0], book=[0, 1, 2, 3, 4], paper=[0, 1, 2]),
        "encoder_scale": pick(scale, smoke="smoke", book="book", paper="paper"),
        "scale": scale,
    }


# ---- data -----------------------------------------------------------------------------------

def world_tasks(sc: dict, world: dict | None = None, seed_offset: int = 0) -> dict:
    """The world's ``cocktail`` splits at a scale's sizes (:func:`settings`), each with its own seed
    (plus ``seed_offset``: the calibration's worlds use 1000). ``world``: :class:`~avlib.world.Cocktail`
    knobs for every split, e.g. the calibrated object ``scale`` (solo and duet scenes; a mosaic tile's
    object keeps 0.6–0.85 of its tile)."""
    n, t, w, o = sc["n_mix_train"], sc["n_test"], dict(world or {}), seed_offset
    tasks = {"solo_train": Cocktail(sc["n_solo_train"], seed=100 + o, kind="solo", **w),
             "mosaic_train": Cocktail(n, seed=101 + o, kind="mosaic", **w),
             "duet_train": Cocktail(n, seed=102 + o, kind="duet", **w),
             "solo_test": Cocktail(t, seed=200 + o, kind="solo", **w), "solo_val": Cocktail(t, seed=203 + o, kind="solo", **w),
             "mosaic_test": Cocktail(t, seed=201 + o, kind="mosaic", **w), "duet_test": Cocktail(t, seed=202 + o, kind="duet", **w)}
    for k in SILENT_COUNTS:
        tasks[f"silent{k}_test"] = Cocktail(sc["n_silent_test"], seed=300 + k + o, kind="mosaic", n_silent=k, **w)
    return tasks


def world_identity(world: dict | None) -> str:
    """The data identity of a world with ``world`` knobs: ``"world"`` for the defaults (the keys of the
    models cached before calibration existed stay as they were), else the knobs spelled out."""
    if not world:
        return "world"
    return "world-" + ",".join(f"{k}={list(v) if isinstance(v, tuple) else v}" for k, v in sorted(world.items()))


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


def data_key(data: dict) -> dict:
    """The data's identity for a cache key: nothing on the world (its keys, and so its cached
    models, stay as they were), ``{"data_id": "real-<fingerprint>"}`` on real files."""
    ident = data.get("identity", "world")
    return {} if ident == "world" else {"data_id": ident}


def encode_split(task, encoders, solo: bool) -> dict:
    """One split as model inputs: ``frames``, the frozen encoders' ``vfeat`` (N, C, 7, 7) and ``afeat``
    (N, D), ``objects``, ``sounding``, ``silent``; for ``solo`` splits also ``labels`` and ``boxes``."""
    samples = [task[i] for i in range(len(task))]
    frames = np.stack([s["frame"] for s in samples])
    audio = np.stack([s["audio"] for s in samples])
    split = {"frames": frames,
             "vfeat": torch.from_numpy(encode_frames(encoders.visual, frames)).permute(0, 3, 1, 2).contiguous(),
             "afeat": torch.from_numpy(encode_audio(encoders.audio, audio)),
             "objects": [s["objects"] for s in samples],
             "sounding": [s["sounding_classes"] for s in samples],
             "silent": [s["silent_classes"] for s in samples]}
    if solo:
        split["labels"] = np.array([s["sounding_classes"][0] for s in samples])
        if all(s["objects"] for s in samples):   # real training frames have a label, no box
            split["boxes"] = np.array([s["objects"][0]["box"] for s in samples])
    return split


_CACHE: dict = {}
def load_data(scale: str, data_root=None, device="cpu", world: dict | None = None) -> dict:
    """Every split as a dict: ``frames`` (uint8), ``vfeat`` (N, C, 7, 7), ``afeat`` (N, D),
    ``objects``, ``sounding``, ``silent``, ``labels`` (solo), ``boxes``. Cached per process.

    ``data_root``: None (the world), a MUSIC folder, or an AudioSet-instrument folder (recognised by its
    ``audioset_box.json``, :func:`data_layout`; no mosaic training split there, so ``mix_train`` is the
    multi-source partition alone). ``data["skipped"]`` is :func:`skip_table`. ``world``: the world's
    knobs (:func:`world_tasks`; the calibrated ones, :mod:`avlib.experiments.dsol_calibration`), part of
    the data's identity and so of every model's cache key; ignored with a ``data_root``."""
    if data_root is not None:
        world = None
    identity = data_identity(data_root) if data_root is not None else world_identity(world)
    if is_audioset(data_root):   # the folder fingerprint counts .pkl files by size: add the partitions' contents
        from ..datasets.audioset_instrument import partition_digest
        identity = f"{identity}-{partition_digest(data_root)}"
    key = (scale, str(data_root), identity)
    if key in _CACHE:
        return _CACHE[key]
    sc = settings(scale)
    enc = pretrained_encoders(sc["encoder_scale"], device)
    tasks = world_tasks(sc, world) if data_root is None else \
        _audioset_tasks(data_root, sc) if is_audioset(data_root) else _music_tasks(data_root, sc)
    data = {"classes": tasks["solo_train"].classes,
            "encoders": enc, "identity": identity, "skipped": skip_table(tasks)}
    for name, task in tasks.items():
        data[name] = encode_split(task, enc, solo=name.startswith("solo"))
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
