"""Independent runs of a grid in worker processes: every CPU core busy, each on one model.

A chapter's grid is many small models that differ only in a row's settings and the seed. On a
small CPU machine each model trains on one thread (more threads per model oversubscribe the
cores: measured 10x slower), so a sequential grid leaves all cores but one idle.
:func:`run_jobs` hands the jobs to ``workers`` forked processes, one thread each. The forked
workers inherit the parent's data (nothing is pickled on the way in; only each job's result
comes back), and every job computes what the same call computes in the parent: a run seeds
itself (:func:`avlib.train.train_or_load`) and uses one thread in either place, so the
numbers are bit for bit the sequential ones (``tests/test_workers.py``). Results the jobs
write to the train-or-load cache are written atomically, one file per run.

On CUDA (or with ``workers=1``) the jobs run in this process, in order: a CUDA context cannot
be shared with forked children, and on a GPU the parallelism is inside each step
(:mod:`avlib.stacked` trains the seeds of a row together there).
"""
from __future__ import annotations

import multiprocessing
import os
from typing import Callable, Sequence

import torch
from tqdm.auto import tqdm

from .repro import resolve_device

_TASK: tuple | None = None   # (fn, jobs) of the running pool, inherited by its forked workers


def default_workers(device="auto") -> int:
    """One worker per CPU core this process may use on the CPU; 1 on an accelerator."""
    if resolve_device(device).type != "cpu":
        return 1
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _start_worker() -> None:
    torch.set_num_threads(1)


def _call(i: int):
    fn, jobs = _TASK
    return fn(jobs[i])


def run_jobs(fn: Callable, jobs: Sequence, workers: int = 1, progress: bool = True, desc: str = "runs") -> list:
    """``[fn(job) for job in jobs]``, computed by ``workers`` forked processes when ``workers > 1``.

    ``fn`` may be a closure (the workers inherit it by ``fork``); its results must pickle
    (dicts of numbers and lists, not models). An exception in a job is raised here. The
    progress bar counts finished jobs.
    """
    global _TASK
    jobs = list(jobs)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    bar = dict(total=len(jobs), desc=desc, disable=not progress, leave=False)
    if workers == 1 or len(jobs) <= 1:
        return [fn(job) for job in tqdm(jobs, **bar)]
    if _TASK is not None:
        raise RuntimeError("run_jobs is not re-entrant: a job may not start its own pool")
    _TASK = (fn, jobs)
    try:
        with multiprocessing.get_context("fork").Pool(min(workers, len(jobs)), initializer=_start_worker) as pool:
            return list(tqdm(pool.imap(_call, range(len(jobs))), **bar))
    finally:
        _TASK = None
