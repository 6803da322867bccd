"""Train-or-load experiments of the PSP chapter (Zhou et al., CVPR 2021).

- :func:`settings`   the sizes of each scale (data, epochs, batch, model widths, seeds)
- :func:`load_data`  AVE-shaped features: the world's ``events`` task through the frozen
  world-pretrained encoders, or the real AVE files (``data_root``)
- :func:`run`        one (setting, variant, seed): train with validation model selection,
  evaluate segment accuracy on test; cached by config with :func:`avlib.train.train_or_load`
- :func:`grid`       many runs → a tidy DataFrame (mean ± std and verdicts: :mod:`avlib.scorecard`)
- :func:`stage_features`, :func:`silhouettes`  features after the CNN / Bi-LSTM / PSP (Fig. 5)
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch

from ..calibration import ave_split
from ..datasets.ave import SEGMENT_LABEL_FILES
from ..losses import fully_loss, weak_bce, weak_labels
from ..metrics.classification import segment_accuracy
from ..models.psp import AVELocalizer, PSPConfig
from ..repro import pick, resolve_device
from ..sources import dependencies
from ..train import batches, fit, train_or_load
from ..workers import default_workers, run_jobs

#: the avlib files this runner imports, transitively: the cache key of its models
MODULES = dependencies(__name__)
#: what an AVE ``data_root`` must hold (checked in the chapter's first cells)
DATA_LAYOUT = {"name": "AVE features", "all_of": ["visual_feature.h5", "audio_feature.h5",
               "train_order.h5", "val_order.h5", "test_order.h5"], "any_of": list(SEGMENT_LABEL_FILES),
               "doc": "avlib/datasets/ave.py and data/README.md"}

# Model settings of every row (Table 1 and 2); the loss / head knobs are ``lam`` and ``weighting``.
VARIANTS = {
    "w/o PSP": {"psp": False},
    "ASP": {"tau": None},
    "WPSP": {"tau": 0.0},
    "SAPSP": {"self_attention": True},
    "PSP": {},
    "AVEL": {"psp": False, "fusion": "concat"},
}
PAPER = {  # the paper's reported accuracies on real AVE (%), for side-by-side tables
    "table1": {"full": {"w/o PSP": 73.7, "ASP": 75.9, "WPSP": 76.0, "SAPSP": 75.4, "PSP": 77.8},
               "weak": {"w/o PSP": 70.2, "ASP": 71.2, "WPSP": 71.2, "SAPSP": 70.8, "PSP": 73.5}},
    "table2": {("full", "L_ce"): {"PSP": 76.6, "AVEL": 69.8}, ("full", "L_ce + λL_avps"): {"PSP": 77.8, "AVEL": 71.3},
               ("weak", "w/o weighting branch"): {"PSP": 71.6, "AVEL": 66.9},
               ("weak", "w/ weighting branch"): {"PSP": 73.5, "AVEL": 69.2}},
    "table3": {"full": {0.0: 75.9, 0.025: 76.1, 0.075: 75.3, 0.095: 77.8, 0.115: 76.6},
               "weak": {0.0: 71.2, 0.025: 71.7, 0.075: 70.4, 0.095: 73.5, 0.115: 72.8}},
    "table4": {"AVEL": (68.6, 66.7), "AVSDN": (72.6, 67.3), "CMAN": (73.3, 70.4), "DAM": (74.5, None),
               "AVRB": (74.8, 68.9), "AVIN": (75.2, 69.4), "AVT": (76.8, 70.2), "CMRA": (77.4, 72.9),
               "PSP": (77.8, 73.5)},
}


BOOK_EPOCHS, BOOK_DECAY_EVERY = 32, 4   # book schedule: lr × 0.8 every 4 epochs, 32 epochs


def settings(scale: str) -> dict:
    """Sizes per scale. ``paper``: the official code's 300 epochs, batch 128, lr 1e-3 ×0.8 every 60.

    ``real_videos``: how many videos of each official AVE split a real-data run reads (a fixed
    subset, :func:`avlib.datasets.io.subsample`); ``paper`` reads all 3339 / 402 / 402.
    """
    return {
        "n": pick(scale, smoke=60, book=1500, paper=4143),
        # real AVE: videos read per official split (None = all); the denominators of paper scale are the official ones
        "real_videos": pick(scale, smoke={"train": 48, "val": 16, "test": 16},
                            book={"train": 1200, "val": 150, "test": 150}, paper=None),
        # book: long enough that the validation curves flatten (avlib.train.flattened; 8 epochs stopped them on the rise)
        "epochs": pick(scale, smoke=2, book=BOOK_EPOCHS, paper=300),
        "batch_size": pick(scale, smoke=16, book=32, paper=128),
        "lr": pick(scale, smoke=3e-3, book=3e-3, paper=1e-3),
        "decay_every": pick(scale, smoke=1, book=BOOK_DECAY_EVERY, paper=60),
        "decay_until": pick(scale, smoke=2, book=BOOK_EPOCHS, paper=170),
        "lam": 100.0,
        "model": pick(scale, smoke=dict(d_in=32, d_model=32, att_hidden=16, cls_hidden=32),
                      book=dict(d_in=64, d_model=64, att_hidden=16, cls_hidden=64),
                      paper=dict(d_in=128, d_model=256, att_hidden=512, cls_hidden=64)),
        "seeds": pick(scale, smoke=(0, 1), book=(0, 1, 2, 3, 4), paper=(0, 1, 2)),
        "taus": (0.0, 0.025, 0.075, 0.095, 0.115),
        "async_n": pick(scale, smoke=40, book=300, paper=4143),
        "async_levels": pick(scale, smoke=(0, 3), book=(0, 2, 4), paper=(0, 1, 2, 3, 4, 5)),
        # the sweep's worlds are smaller: more epochs give them the main runs' number of optimizer steps
        "async_epochs": pick(scale, smoke=2, book=5 * BOOK_EPOCHS, paper=300),
        # the world calibration (avlib.experiments.psp_calibration): bisection steps and the baselines' seeds
        "calibration": {"steps": pick(scale, smoke=1, book=4, paper=4),
                        "seeds": pick(scale, smoke=(0,), book=(0, 1), paper=(0, 1))},
    }


@dataclass
class Data:
    """AVE-shaped tensors and splits. ``visual`` stays float16 (converted per batch).

    :meth:`to` gives the same data resident on a training device (copied once, then kept):
    :func:`run`, :func:`predict` and :func:`accuracy` index batches there, with no per-batch
    host→device copies. ``splits`` stay CPU index tensors.
    """
    visual: torch.Tensor          # (N, T, h, w, C) float16
    audio: torch.Tensor           # (N, T, D) float32
    labels: torch.Tensor          # (N, T) int64, background = num_classes - 1
    event: torch.Tensor           # (N, T) bool
    weak: torch.Tensor            # (N, C) float32, Y_weak
    splits: dict                  # {"train"|"val"|"test": index tensor}
    classes: list                 # event classes (without background)
    key: str                      # identifies the data in the train-or-load cache
    raw: dict                     # what the loader returned (audible/visible truth, ...)

    _resident: dict = field(default_factory=dict, repr=False, compare=False)  # device → Data on it

    @property
    def num_classes(self) -> int:
        return len(self.classes) + 1

    @property
    def device(self) -> torch.device:
        return self.visual.device

    def to(self, device) -> "Data":
        """These data with the feature and label tensors on ``device`` (copied once per device, kept).

        Returns ``self`` when they are there already (on the CPU: no copy, same numbers).
        """
        device = resolve_device(device)
        if self.visual.device == device:
            return self
        key = str(device)
        if key not in self._resident:
            self._resident[key] = replace(
                self, visual=self.visual.to(device), audio=self.audio.to(device), labels=self.labels.to(device),
                event=self.event.to(device), weak=self.weak.to(device), _resident={})
        return self._resident[key]


def _world_features(n, scale, device, task_kw, progress, world_seed=0):
    from ..features import events_features, pretrained_encoders
    from ..world import Events
    enc = pretrained_encoders(scale, device)
    task = Events(n, seed=world_seed, **task_kw)
    feats = events_features(task, enc, desc=None if progress else False)
    seed_tag = f"-seed{world_seed}" if world_seed else ""   # seed 0 keeps the key it always had
    return feats, f"events-{n}{seed_tag}-{task.config!r}-{enc.key}", task


def load_data(scale: str, device="auto", data_root=None, n: int | None = None, progress: bool = True,
              standardize: bool = True, world_seed: int = 0, **task_kw) -> Data:
    """World ``events`` features (``data_root=None``; ``task_kw`` are Events knobs, ``world_seed``
    the world's seed: 0 for the chapter, other seeds for the calibration's worlds) or real AVE.

    Real AVE: the official splits, subsampled per split to ``settings(scale)["real_videos"]``
    (only those videos are read); ``raw["skipped"]`` says what the loader left out. The cache
    key holds :func:`avlib.repro.data_identity` (the files' content fingerprint) and the subset.

    ``standardize``: shift and scale every visual channel and audio dimension by the mean and
    std of the training split (the models then converge in few epochs; a deviation from the
    official code, which feeds the raw VGG features).
    """
    if data_root is not None:
        from ..datasets.ave import load_ave
        from ..repro import data_identity
        sizes = settings(scale)["real_videos"]
        raw = load_ave(data_root, setting="weak", noisy=False, videos=sizes)
        splits = {k: torch.as_tensor(v) for k, v in raw["splits"].items()}
        key = f"ave-{data_identity(data_root)}-{sizes}"
        weak = torch.as_tensor(raw["weak_labels"])
    else:
        n = n or settings(scale)["n"]
        raw, key, task = _world_features(n, scale, resolve_device(device), task_kw, progress, world_seed)
        raw["event"] = raw["segment_labels"] != len(raw["classes"])
        tr, va, te = ave_split(len(raw["segment_labels"]))
        splits = {k: torch.arange(len(raw["segment_labels"]))[s] for k, s in zip(("train", "val", "test"), (tr, va, te))}
        weak = None
        raw["task"] = task
    labels = torch.as_tensor(raw["segment_labels"]).long()
    K = len(raw["classes"]) + 1
    visual, audio = torch.as_tensor(raw["visual"]), torch.as_tensor(raw["audio"]).float()
    if standardize:  # per-channel statistics of the training split only
        tr = splits["train"]
        if data_root is None:  # the world's exact arithmetic (its committed numbers depend on it)
            vm = visual[tr].float().mean((0, 1, 2, 3))
            vs = visual[tr].float().std((0, 1, 2, 3)).clamp_min(1e-3)
            visual = ((visual.float() - vm) / vs).half()
        else:  # real AVE: in place, in chunks (no float32 copy of 4143 videos' maps; raw["visual"] shares it)
            visual = _standardize_inplace(visual, tr)
        audio = (audio - audio[tr].mean((0, 1))) / audio[tr].std((0, 1)).clamp_min(1e-3)
        key += "-standardized"
    return Data(visual.half(), audio, labels,
                torch.as_tensor(raw["event"]).bool(), weak if weak is not None else weak_labels(labels, K),
                splits, list(raw["classes"]), key, raw)


def _standardize_inplace(visual: torch.Tensor, tr: torch.Tensor, chunk: int = 64) -> torch.Tensor:
    """Standardize a float16 (N, T, h, w, C) tensor per channel with the rows ``tr``'s mean and std, in place.

    Sums in float64 over chunks of ``chunk`` videos: peak extra memory is one chunk in float64.
    """
    c = visual.shape[-1]
    s1, s2, cnt = torch.zeros(c, dtype=torch.float64), torch.zeros(c, dtype=torch.float64), 0
    for b in tr.split(chunk):
        x = visual[b].double().reshape(-1, c)
        s1 += x.sum(0)
        s2 += (x * x).sum(0)
        cnt += len(x)
    mean = s1 / max(cnt, 1)
    std = ((s2 - cnt * mean ** 2) / max(cnt - 1, 1)).clamp_min(0).sqrt().clamp_min(1e-3)
    mean, std = mean.float(), std.float()
    for s in range(0, len(visual), chunk):
        visual[s:s + chunk] = ((visual[s:s + chunk].float() - mean) / std).half()
    return visual


@torch.no_grad()
def predict(model, data: Data, idx, batch_size: int = 256, device=None) -> np.ndarray:
    """Per-segment predictions ``(len(idx), T)``, computed on ``device`` (``None``: the model's device).

    The features are used where :meth:`Data.to` keeps them on that device; only the
    predictions come back to the host, once.
    """
    device = _model_device(model) if device is None else resolve_device(device)
    model.to(device).eval()
    dd = data.to(device)
    idx = torch.as_tensor(idx).to(device)
    out = [model.predict(dd.visual[b], dd.audio[b]) for b in idx.split(batch_size)]
    return torch.cat(out).cpu().numpy()


def full_loss(out: dict, labels, event, lam: float):
    """The fully supervised loss of :func:`run` (Eq. 10 + λ·Eq. 11): L_avps on the layer-normalised
    terms of Eq. 4 (``v_fc``/``a_fc``), where the official code computes it."""
    return fully_loss(out["scores"], labels, out["v_fc"], out["a_fc"], event, lam)


def accuracy(model, data: Data, split: str, device=None) -> float:
    """Segment accuracy on ``split`` (the forward passes on ``device``; ``None``: the model's device)."""
    idx = data.splits[split]
    return segment_accuracy(predict(model, data, idx, device=device), data.labels[idx.to(data.labels.device)].cpu().numpy())


def _model_device(model) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def model_config(data: Data, hp: dict, variant: str, setting: str, **overrides) -> PSPConfig:
    """The :class:`PSPConfig` of a table row on these data."""
    if setting not in ("full", "weak"):
        raise ValueError(f"unknown setting {setting!r}; use 'full' or 'weak'")
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; valid: {list(VARIANTS)}")
    return PSPConfig(visual_dim=data.visual.shape[-1], audio_dim=data.audio.shape[-1], num_classes=data.num_classes,
                     weak=setting == "weak", **hp["model"], **{**VARIANTS[variant], **overrides})


def cache_config(data: Data, hp: dict, variant: str = "PSP", setting: str = "full", seed: int = 0,
               lam: float | None = None, **overrides) -> tuple[PSPConfig, float, dict]:
    """``(model config, λ, cache config)`` of one :func:`run`: two calls with equal cache configs
    train the same model (e.g. Table 3's τ = 0.095 row is Table 1's PSP)."""
    lam = 0.0 if setting == "weak" else hp["lam"] if lam is None else lam
    cfg = model_config(data, hp, variant, setting, **overrides)
    return cfg, lam, {"data": data.key, "model": cfg.as_dict(), "lam": lam, "seed": seed,
                      **{k: hp[k] for k in ("epochs", "batch_size", "lr", "decay_every", "decay_until")}}


def run(data: Data, hp: dict, variant: str = "PSP", setting: str = "full", seed: int = 0, lam: float | None = None,
        device="auto", progress: bool = False, **overrides):
    """Train-or-load one model; returns ``(model, result)`` with val/test segment accuracy.

    ``lam``: λ of Eq. 10 (full setting; default ``hp["lam"]``, 0 for L_ce alone).
    ``overrides``: :class:`PSPConfig` fields (``tau=``, ``weighting=``, ...).
    """
    device = resolve_device(device)
    cfg, lam, config = cache_config(data, hp, variant, setting, seed, lam, **overrides)
    tr = data.splits["train"]

    def loss_fn(m, b):
        v, a, y, e, w = b
        out = m(v, a)
        return full_loss(out, y, e, lam) if setting == "full" else weak_bce(out["video_prob"], w)

    def train(model):
        # the features move to the training device once (kept on ``data`` for the next run);
        # batches are gathered there and validation runs there: no per-batch host→device copies
        dd = data.to(device)
        train_set = (dd.visual, dd.audio, dd.labels, dd.event, dd.weak)
        opt = torch.optim.Adam(model.parameters(), lr=hp["lr"])
        every, until = hp["decay_every"], hp["decay_until"]
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 0.8 ** (min(e, until) // every))
        hist = fit(model, lambda e: batches(*train_set, index=tr, batch_size=hp["batch_size"], shuffle=True,
                                            seed=seed * 1000 + e),
                   loss_fn, epochs=hp["epochs"], optimizer=opt, scheduler=sched,
                   val_fn=lambda m: accuracy(m, dd, "val", device), device=device, progress=progress,
                   desc=f"{setting} {variant}")
        te = dd.splits["test"]
        pred = predict(model, dd, te, device=device)
        model.cpu()
        return {"loss": hist.loss, "val_curve": hist.val, "best_epoch": hist.best_epoch, "val": hist.best_val,
                "test": segment_accuracy(pred, dd.labels[te.to(dd.labels.device)].cpu().numpy()),
                "top_class": top_class_share(pred)}

    name = f"psp-{setting}"  # the config holds the variant, so equal rows of two tables share a model
    model, res, hit = train_or_load(name, config, lambda: AVELocalizer(cfg), train, modules=MODULES, seed=seed,
                                    verbose=False)
    return model, {**res, "cached": hit}


RUN_KNOBS = ("variant", "setting", "lam", "tau", "weighting", "self_attention", "renormalize")


def grid(data: Data, hp: dict, rows: list[dict], seeds, device="auto", progress: bool = True,
         workers: int | None = None) -> pd.DataFrame:
    """Run every row (a dict of :func:`run` keyword arguments plus labels) for every seed.

    ``top class (%)``: the share of test segments given the model's most predicted class
    (100 = a model that predicts one class; see :func:`degenerate`).

    ``device`` is resolved once; the features move to it once for the whole grid. The distinct
    models train in ``workers`` processes (default: one per CPU core on the CPU, one on CUDA;
    :mod:`avlib.workers`), with the same numbers as one after the other; a job whose model another
    row already trains loads it from the cache afterwards (``cached``), as it would in sequence.
    """
    device = resolve_device(device)
    workers = default_workers(device) if workers is None else workers
    jobs = [(row, seed, {k: v for k, v in row.items() if k in RUN_KNOBS}) for row in rows for seed in seeds]
    keys = [json.dumps(cache_config(data, hp, seed=s, **kw)[2], sort_keys=True, default=str) for _, s, kw in jobs]
    first = {k: i for i, k in reversed(list(enumerate(keys)))}
    if workers > 1:
        data.to(device)   # resident before the fork: the workers inherit it

    def train_one(i):
        _, seed, kw = jobs[i]
        return run(data, hp, seed=seed, device=device, **kw)[1]

    unique = sorted(first.values())
    done = dict(zip(unique, run_jobs(train_one, unique, workers=workers, progress=progress, desc="runs")))
    records = []
    for i, (row, seed, _) in enumerate(jobs):
        res = done[first[keys[i]]]
        records.append({**row, "seed": seed, "val": 100 * res["val"], "test": 100 * res["test"],
                        "top class (%)": 100 * res["top_class"],
                        "best_epoch": res["best_epoch"], "cached": res["cached"] or i != first[keys[i]],
                        "val_curve": [100 * v for v in res["val_curve"]]})
    return pd.DataFrame(records)


def top_class_share(pred) -> float:
    """The fraction of predictions that are the most predicted class (1.0: a single-class model)."""
    pred = np.asarray(pred).reshape(-1)
    return float(np.bincount(pred).max() / len(pred)) if len(pred) else float("nan")


#: a model whose most predicted class takes at least this share (%) of the test segments is flagged
DEGENERATE_SHARE = 99.0


def degenerate(runs: pd.DataFrame) -> pd.DataFrame:
    """The rows of a :func:`grid` whose model predicts (almost) one class: ``top class (%)`` ≥ :data:`DEGENERATE_SHARE`."""
    return runs[runs["top class (%)"] >= DEGENERATE_SHARE]


@torch.no_grad()
def stage_features(model: AVELocalizer, data: Data, idx) -> dict:
    """Per-segment features of the videos ``idx`` at the three stages of Fig. 5.

    Returns ``{(modality, stage): (len(idx)·T, d)}`` for modality audio/visual and stage
    CNN (visual: spatial mean of the frozen map), Bi-LSTM, PSP; and ``labels`` (len(idx)·T,).
    """
    model.cpu().eval()
    v, a = data.visual[idx], data.audio[idx]
    out = model(v, a)
    feats = {("audio", "CNN"): a, ("visual", "CNN"): v.float().mean((2, 3)),
             ("audio", "Bi-LSTM"): out["a_lstm"], ("visual", "Bi-LSTM"): out["v_lstm"],
             ("audio", "PSP"): out["a_psp"], ("visual", "PSP"): out["v_psp"]}
    res = {k: f.reshape(-1, f.shape[-1]).numpy() for k, f in feats.items()}
    res["labels"] = data.labels[idx].reshape(-1).numpy()
    return res


def silhouettes(feats: dict, background: int | None = None) -> dict:
    """Silhouette score (cosine) of the class labels at each stage (higher = better clustered).

    Segments labelled ``background`` are left out (the event classes are what Fig. 5 shows).
    """
    from sklearn.metrics import silhouette_score
    y = feats["labels"]
    keep = y != background if background is not None else np.ones_like(y, bool)
    return {k: float(silhouette_score(f[keep], y[keep], metric="cosine")) for k, f in feats.items() if k != "labels"}
