"""Benchmark: the PSP runner's cost per training step against the bare model step.

    python benchmarks/psp_step.py [--device auto] [--scale book] [--n 400] [--batch 32]

Three numbers, all at the same sizes, on random AVE-shaped features (values do not
change the cost):

- ``bare``: one training step of :class:`avlib.models.psp.AVELocalizer` on a batch already
  on the device: forward, Eq. 10 loss, backward, Adam (with CUDA autocast + GradScaler, as
  ``avlib.train.fit`` does on CUDA);
- ``runner``: :func:`avlib.experiments.psp.run`'s marginal cost per step: two runs of E₁ and
  E₂ epochs (fresh train-or-load cache), (t₂ − t₁) / ((E₂ − E₁) · training rows / batch);
  so one-time costs (building the model, moving the data to the device, the test pass,
  the cache write) cancel and the per-epoch validation pass is included;
- ``ratio`` = runner / bare (goal: ≤ 1.5).

``--scale paper`` uses the official widths (d_model 256, AVGA hidden 512) and, with
``--channels 512``, AVE's 7×7×512 visual maps; sized for a GPU.
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import torch

import avlib.train
from avlib.experiments import psp as ex
from avlib.losses import weak_labels
from avlib.models.psp import AVELocalizer
from avlib.repro import resolve_device, seed_everything


def random_data(n: int, channels: int = 512, audio_dim: int = 128, T: int = 10, K: int = 29, seed: int = 0,
                chunk: int = 256) -> ex.Data:
    """AVE-shaped random features (visual float16 (n, T, 7, 7, C), audio (n, T, D)) in AVE's split proportions.

    Built in chunks so that the float16 visual array is the only large allocation
    (4,143 × 10 × 7 × 7 × 512 float16 = 2.1 GB).
    """
    from avlib.calibration import ave_split
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, K, (n, T), generator=g)
    visual = torch.empty(n, T, 7, 7, channels, dtype=torch.float16)
    for s in range(0, n, chunk):
        visual[s:s + chunk] = torch.randn(min(chunk, n - s), T, 7, 7, channels, generator=g).half()
    audio = torch.randn(n, T, audio_dim, generator=g)
    tr, va, te = ave_split(n)
    idx = torch.arange(n)
    return ex.Data(visual, audio, labels, labels != K - 1, weak_labels(labels, K),
                   {"train": idx[tr], "val": idx[va], "test": idx[te]}, [f"c{k}" for k in range(K - 1)],
                   f"random-ave-{n}-{channels}-{seed}", {})


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_step_time(data: ex.Data, hp: dict, device, steps: int = 20, warmup: int = 3, amp: bool | None = None) -> float:
    """Seconds per training step of the bare model on one resident batch (median of ``steps``)."""
    device = resolve_device(device)
    amp = device.type == "cuda" if amp is None else amp
    seed_everything(0)
    model = AVELocalizer(ex.model_config(data, hp, "PSP", "full")).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=hp["lr"])
    scaler = torch.amp.GradScaler("cuda", enabled=amp and device.type == "cuda")
    b = data.splits["train"][:hp["batch_size"]]
    v, a, y, e = (t[b].to(device) for t in (data.visual, data.audio, data.labels, data.event))
    times = []
    for i in range(warmup + steps):
        _sync(device)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, enabled=amp):
            out = model(v, a)
            loss = ex.full_loss(out, y, e, hp["lam"])   # the runner's loss (L_avps on v_fc / a_fc)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def runner_step_time(data: ex.Data, hp: dict, device, epochs=(2, 6), seed: int = 0) -> dict:
    """Marginal seconds per step of :func:`avlib.experiments.psp.run` (fresh cache, see the module doc)."""
    device = resolve_device(device)
    steps = math.ceil(len(data.splits["train"]) / hp["batch_size"])
    old = avlib.train.DEFAULT_CACHE
    wall = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            avlib.train.DEFAULT_CACHE = Path(tmp)
            data.to(device)  # the one-time copy, outside both timings
            ex.run(data, {**hp, "epochs": 1}, "PSP", "full", seed=seed + 1, device=device)  # warm up
            for e in epochs:
                _sync(device)
                t0 = time.perf_counter()
                ex.run(data, {**hp, "epochs": e}, "PSP", "full", seed=seed, device=device)
                _sync(device)
                wall[e] = time.perf_counter() - t0
    finally:
        avlib.train.DEFAULT_CACHE = old
    e1, e2 = epochs
    full = len(data.splits["train"]) / hp["batch_size"]  # full-batch equivalents (the last batch is partial)
    return {"steps_per_epoch": steps, "wall_s": wall,
            "per_step_s": (wall[e2] - wall[e1]) / ((e2 - e1) * full)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--scale", default="book", choices=("smoke", "book", "paper"), help="model widths and lr")
    p.add_argument("--n", type=int, default=400, help="videos (AVE: 4143)")
    p.add_argument("--channels", type=int, default=128, help="visual channels (AVE: 512)")
    p.add_argument("--batch", type=int, default=32, help="batch size (official: 128)")
    p.add_argument("--epochs", type=int, nargs=2, default=(2, 6), metavar=("E1", "E2"))
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    hp = {**ex.settings(args.scale), "batch_size": args.batch}
    data = random_data(args.n, args.channels)
    bare = bare_step_time(data, hp, device)
    runner = runner_step_time(data, hp, device, tuple(args.epochs))
    res = {"device": str(device), "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
           "threads": torch.get_num_threads(), "scale": args.scale, "n": args.n, "channels": args.channels,
           "batch_size": args.batch, "bare_step_ms": 1e3 * bare, "runner_step_ms": 1e3 * runner["per_step_s"],
           "ratio": runner["per_step_s"] / bare, "runner": runner}
    print(f"device {res['device_name']} ({res['threads']} threads), model '{args.scale}', n={args.n}, "
          f"C={args.channels}, batch {args.batch}, {runner['steps_per_epoch']} steps/epoch")
    print(f"bare model step : {res['bare_step_ms']:8.2f} ms")
    print(f"runner per step : {res['runner_step_ms']:8.2f} ms  (runs of {args.epochs[0]} and {args.epochs[1]} epochs: "
          + ", ".join(f"{e} ep {w:.2f} s" for e, w in runner["wall_s"].items()) + ")")
    print(f"ratio           : {res['ratio']:8.2f}  (goal <= 1.5)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
