"""Benchmark: would stacking the seeds of a PSP row (as ``avlib.stacked`` does for MIL) make it train faster?

    python benchmarks/psp_stack.py [--scale book] [--stacks 1 5 10] [--threads 1] [--device cpu] [--json out.json]

PSP's Bi-LSTMs (``nn.LSTM``) have no ``vmap`` rule, so the chapter trains one model per seed in
worker processes (``avlib.workers``). This measures what a stack would gain at best: the book's PSP
model with its two ``nn.LSTM`` swapped for a hand-written Bi-LSTM (the same gates, ``vmap``-able),
``S`` seeds stacked with :func:`torch.func.stack_module_state` and trained by one ``vmap``-ed
forward, loss and Adam step, exactly the scheme of :func:`avlib.stacked.fit_stacked`.

Printed per stack size: milliseconds per training step per seed, against the runner's model (one
seed, ``nn.LSTM``) on the same batch, threads and sizes: ``speed-up`` > 1 means stacking pays. A
stack of one isolates the hand-written Bi-LSTM's own cost; the chapter's grid runs one model per
single-thread worker process, so with ``--threads 2`` the fair comparison is the 1-thread lone time.
Dropout is off on both sides (a stack draws every seed's masks itself, :class:`avlib.stacked.KeyedDropout`,
which only adds to its cost), so the speed-up printed is an upper bound.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call, stack_module_state

from avlib.experiments import psp as ex
from avlib.models import psp as psp_model
from avlib.repro import resolve_device, seed_everything

try:
    from benchmarks.psp_step import random_data
except ModuleNotFoundError:   # run as a script from the repository root
    from psp_step import random_data


class GateBiLSTM(nn.Module):
    """A one-layer bidirectional LSTM written with tensor ops (``vmap``-able), batch first, zero initial state.

    Same gates and initialisation range as ``nn.LSTM`` (uniform ±1/√H); one bias per direction. Returns
    ``(output, None)``, as ``nn.LSTM`` returns ``(output, state)``, so it drops into the runner's encoder.
    """

    def __init__(self, d_in: int, hidden: int):
        super().__init__()
        k = 1.0 / math.sqrt(hidden)
        self.hidden = hidden
        self.w_ih = nn.Parameter(torch.empty(2, 4 * hidden, d_in).uniform_(-k, k))
        self.w_hh = nn.Parameter(torch.empty(2, 4 * hidden, hidden).uniform_(-k, k))
        self.bias = nn.Parameter(torch.empty(2, 4 * hidden).uniform_(-k, k))

    def forward(self, x):
        B, T, _ = x.shape
        xw = torch.einsum("bti,dgi->dbtg", x, self.w_ih) + self.bias[:, None, None, :]   # (2, B, T, 4H)
        h = x.new_zeros(2, B, self.hidden)
        c = x.new_zeros(2, B, self.hidden)
        out = []
        for t in range(T):   # direction 0 reads t, direction 1 reads T − 1 − t
            g = torch.stack([xw[0, :, t], xw[1, :, T - 1 - t]]) + torch.einsum("dbh,dgh->dbg", h, self.w_hh)
            i, f, z, o = g.chunk(4, -1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(z)
            h = torch.sigmoid(o) * torch.tanh(c)
            out.append(h)
        hs = torch.stack(out, 2)                                                            # (2, B, T, H)
        return torch.cat([hs[0], hs[1].flip(1)], -1), None


def stackable(cfg) -> nn.Module:
    """The book's PSP model (:class:`avlib.models.psp.AVELocalizer`, its own forward) with its encoder's two
    Bi-LSTMs replaced by :class:`GateBiLSTM`."""
    if cfg.self_attention:
        raise ValueError("the benchmark's model has no self-attention (SAPSP); time a model without it")
    model = psp_model.AVELocalizer(cfg)
    model.encoder.v_lstm = GateBiLSTM(cfg.d_in, cfg.d_model // 2)
    model.encoder.a_lstm = GateBiLSTM(cfg.d_in, cfg.d_model // 2)
    return model


def check_gates(d_in: int = 6, hidden: int = 4) -> float:
    """Largest difference between :class:`GateBiLSTM` and ``nn.LSTM(bidirectional=True)`` with the same
    weights on random input: the benchmark compares like with like."""
    torch.manual_seed(0)
    ref, gate = nn.LSTM(d_in, hidden, batch_first=True, bidirectional=True), GateBiLSTM(d_in, hidden)
    with torch.no_grad():
        for d, sfx in enumerate(("", "_reverse")):
            gate.w_ih[d] = getattr(ref, f"weight_ih_l0{sfx}")
            gate.w_hh[d] = getattr(ref, f"weight_hh_l0{sfx}")
            gate.bias[d] = getattr(ref, f"bias_ih_l0{sfx}") + getattr(ref, f"bias_hh_l0{sfx}")
        x = torch.randn(3, 10, d_in)
        return float((ref(x)[0] - gate(x)[0]).abs().max())


def _median_ms(step, steps: int, device: torch.device, warmup: int = 3) -> float:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        sync()
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    return 1e3 * sorted(times)[len(times) // 2]


def measure(scale: str = "book", stacks=(1, 5, 10), steps: int = 15, n: int = 200, device="cpu") -> dict:
    device = resolve_device(device)
    hp = ex.settings(scale)
    data = random_data(n, 128)
    cfg = ex.model_config(data, hp, "PSP", "full", dropout=0.0)
    b = data.splits["train"][:hp["batch_size"]]
    v, a, y, e = (t[b].to(device) for t in (data.visual, data.audio, data.labels, data.event))
    lam = hp["lam"]

    seed_everything(0)
    model = psp_model.AVELocalizer(cfg).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=hp["lr"])

    def lone_step():
        opt.zero_grad(set_to_none=True)
        ex.full_loss(model(v, a), y, e, lam).backward()
        opt.step()

    lone = _median_ms(lone_step, steps, device)
    out = {"scale": scale, "device": str(device), "threads": torch.get_num_threads(), "batch_size": hp["batch_size"],
           "lone_nn_lstm_ms": lone, "stacked": {}}
    for S in stacks:
        models = [stackable(cfg).to(device).train() for _ in range(S)]
        base = copy.deepcopy(models[0]).to("meta")
        params, buffers = stack_module_state(models)
        sopt = torch.optim.Adam(list(params.values()), lr=hp["lr"])

        def one(p, bf, vv, aa, yy, ee):
            return ex.full_loss(functional_call(base, (p, bf), (vv, aa)), yy, ee, lam)

        step_all = torch.vmap(one)
        V, A, Y, E = (torch.stack([t] * S) for t in (v, a, y, e))

        def stacked_step():
            sopt.zero_grad(set_to_none=True)
            step_all(params, buffers, V, A, Y, E).sum().backward()
            sopt.step()

        per_seed = _median_ms(stacked_step, max(3, steps // 2), device) / S
        out["stacked"][S] = {"per_seed_ms": per_seed, "speed_up": lone / per_seed}
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", default="book", choices=("smoke", "book", "paper"))
    p.add_argument("--stacks", type=int, nargs="+", default=[1, 5, 10])
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (a worker process uses 1)")
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    gap = check_gates()
    if gap > 1e-5:
        raise AssertionError(f"the hand-written Bi-LSTM differs from nn.LSTM by {gap:.2e}")
    res = measure(args.scale, args.stacks, args.steps, device=args.device)
    res["gate_lstm_max_difference"] = gap
    print(f"PSP '{args.scale}' model on {res['device']}, batch {res['batch_size']}, {res['threads']} thread(s): one seed with nn.LSTM "
          f"{res['lone_nn_lstm_ms']:.1f} ms per step")
    for S, r in res["stacked"].items():
        print(f"  stack of {S:2d} (hand-written Bi-LSTM, vmap): {r['per_seed_ms']:.1f} ms per step per seed, "
              f"speed-up {r['speed_up']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
