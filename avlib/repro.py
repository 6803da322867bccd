"""Reproducibility helpers: seeding, scales, devices and provenance.

One ``seed`` sets Python, NumPy and torch; CPU runs are bit-repeatable. Scales are
named presets (``smoke``, ``book``, ``paper``) that each chapter maps to its sizes.
"""
from __future__ import annotations

import os
import platform
import random
import re
import resource
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

import avlib

from .datasets.io import fingerprint
from .datasets.released import released_files
from .environment import environment_record
from .sources import file_hashes, source_hash

SCALES = ("smoke", "book", "paper")
DEVICES = ("auto", "cpu", "cuda")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) and make CPU kernels deterministic."""
    if not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))
    torch.cuda.manual_seed_all(int(seed))
    torch.use_deterministic_algorithms(True, warn_only=True)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


#: torch CPU threads for the artefacts that several chapters share through the cache (the
#: world-pretrained encoders and the ``events`` features). CPU kernels sum in a different order
#: with another thread count, so a shared artefact would otherwise depend on which chapter built
#: it first (measured: encoders trained on 1 vs 2 threads differ). 2 = this book's reference machine.
SHARED_THREADS = 2


@contextmanager
def torch_threads(n: int):
    """Run a block with ``torch.set_num_threads(n)``, restoring the caller's setting after it."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def check_scale(scale: str) -> str:
    """Return ``scale`` if it is one of :data:`SCALES`, else raise a clear ``ValueError``."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; valid scales are {', '.join(SCALES)}")
    return scale


def pick(scale: str, **by_scale):
    """Pick the value for ``scale`` from keyword arguments ``smoke=``, ``book=``, ``paper=``."""
    check_scale(scale)
    missing = [s for s in SCALES if s not in by_scale]
    if missing:
        raise ValueError(f"pick() needs a value for every scale; missing {missing}")
    return by_scale[scale]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Map ``"auto"`` to CUDA when available (else CPU); validate explicit names.

    The result is canonical: ``cuda`` becomes ``cuda:<current device>``, so that it compares
    equal to the device of the tensors it creates (a ``torch.device`` is canonicalised too).
    """
    if not isinstance(device, torch.device):
        if device not in DEVICES:
            raise ValueError(f"unknown device {device!r}; valid devices are {', '.join(DEVICES)}")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for but torch.cuda.is_available() is False; "
                             "use device='cpu' or 'auto'")
        if device.index is None:
            return torch.device("cuda", torch.cuda.current_device())
    return device


def check_seeds(seeds):
    """``None`` (the scale's default seeds) or a non-empty tuple of distinct non-negative ints."""
    if seeds is None:
        return None
    bad = ValueError(f"seeds must be None or a non-empty list of distinct non-negative integers, got {seeds!r} "
                     "(papermill: -y 'seeds: [0, 1, 2]')")
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise bad
    seeds = tuple(seeds)
    if not seeds or len(set(seeds)) != len(seeds) or not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise bad
    return tuple(int(s) for s in seeds)


def check_data_root(data_root, layout: dict | None = None):
    """``None`` (the world) or an existing folder holding the dataset described by ``layout``.

    ``layout``: ``{"name": ..., "all_of": [...], "any_of": [...], "doc": ...}`` with paths (globs)
    relative to ``data_root``; every ``all_of`` and at least one ``any_of`` pattern must match.
    """
    if data_root is None:
        return None
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise ValueError(f"data_root={str(data_root)!r} is not a folder; pass the folder of the real dataset, "
                         "or data_root=None for the built-in world")
    if layout:
        missing = [p for p in layout.get("all_of", ()) if not any(root.glob(p))]
        any_of = layout.get("any_of", ())
        if missing or (any_of and not any(any(root.glob(p)) for p in any_of)):
            want = list(layout.get("all_of", ())) + ([" or ".join(any_of)] if any_of else [])
            raise ValueError(f"data_root={str(root)!r} does not hold the {layout['name']} layout: expected "
                             f"{', '.join(want)} in it (missing: {', '.join(missing) or ' or '.join(any_of)}); "
                             f"see {layout.get('doc', 'data/README.md')}")
    return root


def check_parameters(scale: str, device, seeds=None, data_root=None, layout: dict | None = None):
    """Validate a chapter's papermill parameters in its first cell: ``(scale, torch.device, seeds, data_root)``.

    Each bad value raises a ``ValueError`` naming the parameter and the valid values.
    """
    return check_scale(scale), resolve_device(device), check_seeds(seeds), check_data_root(data_root, layout)


def peak_memory_mb() -> float:
    """Peak resident memory of this process (and reaped children) in MiB."""
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(self_kb, child_kb) / 1024


class Timer:
    """Wall-clock timer started at construction; ``elapsed`` in seconds."""

    def __init__(self):
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def data_identity(data_root) -> str:
    """What the cache keys record of the data: ``"world"``, or the real folder's :func:`fingerprint`.

    The fingerprint hashes the files' contents (not the path), so a changed file retrains and a
    moved folder does not.
    """
    return "world" if data_root is None else f"real-{fingerprint(data_root)}"


def provenance(scale: str, device, seeds=None, timer: Timer | None = None, data_root=None,
               data_name: str | None = None) -> dict:
    """What produced a result: avlib version and source hash, the environment (the lock's hash, whether the
    running Python matches it, the versions of the packages that compute numbers), device, scale, seeds,
    data, time, memory.

    ``data`` is ``"world"`` or ``data_name`` (the real dataset's name); with a ``data_root`` also
    the folder, its content :func:`~avlib.datasets.io.fingerprint` and, for each annotation file named
    like a released one, whether it is that file (:func:`~avlib.datasets.released.released_files`).
    """
    info = {
        "avlib_version": avlib.__version__,
        "avlib_source_hash": source_hash(),
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "device_name": (torch.cuda.get_device_name(0) if str(device).startswith("cuda")
                        else platform.processor() or platform.machine()),
        "cpu_threads": torch.get_num_threads(),
        "scale": scale,
        "seeds": list(seeds) if seeds is not None else None,
        "data": "world" if data_root is None else (data_name or Path(data_root).name),
        "data_root": None if data_root is None else str(data_root),
        "data_fingerprint": None if data_root is None else fingerprint(data_root),
        "data_files": None if data_root is None else released_files(data_root),
        "peak_memory_mb": round(peak_memory_mb(), 1),
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "environment": environment_record(),
    }
    if timer is not None:
        info["wall_time_s"] = round(timer.elapsed, 1)
    return info


def format_provenance(info: dict) -> str:
    """Provenance as aligned ``key: value`` lines for a chapter's last cell.

    The environment prints as ``lock``, ``matches_lock`` and one ``packages`` line (``name version, ...``).
    """
    flat = {k: v for k, v in info.items() if k != "environment"}
    env = info.get("environment")
    if env:
        flat["lock"] = env["lock_hash"]
        flat["matches_lock"] = env["matches_lock"]
        flat["packages"] = ", ".join(f"{k} {v}" for k, v in env["packages"].items())
    width = max(len(k) for k in flat)
    return "\n".join(f"{k:<{width}} : {v}" for k, v in flat.items())


def save_results(name: str, results, info: dict, out_dir="results") -> Path:
    """Write ``{"provenance": info + avlib file hashes, "results": results}`` to ``out_dir/name-<scale>.json``.

    Results on real data go to ``out_dir/name-<data>-<scale>.json`` (``data`` from the provenance,
    as a file-name slug), so they never overwrite the world's.

    The per-file hashes let ``tests/test_staleness.py`` name the avlib modules that changed
    since a committed chapter was executed.
    """
    import json
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = str(info.get("data", "world"))
    tag = "" if data == "world" else "-" + (re.sub(r"[^a-z0-9]+", "-", data.lower()).strip("-") or "real")
    path = out / f"{name}{tag}-{info.get('scale', 'unknown')}.json"
    tmp = path.with_suffix(".json.tmp")
    blob = {"provenance": {**info, "avlib_files": file_hashes()}, "results": results}
    tmp.write_text(json.dumps(blob, indent=1, default=str, sort_keys=False))
    os.replace(tmp, path)
    return path
