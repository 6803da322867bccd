"""Benchmark: how fast the world renders at book-scale settings.

    .venv/bin/python benchmarks/world_rate.py [--videos 4143] [--workers 2]

Prints `events` videos per second and the time to render an AVE-sized world
(4,143 videos of 10 one-second segments: 41,430 frames and 11.5 hours of audio).
"""
import argparse
import time
from concurrent.futures import ProcessPoolExecutor

from avlib.world import Events, sound_bank


def _render_range(args):
    n, seed, start, stop = args
    task = Events(n, seed=seed)
    for i in range(start, stop):
        task[i]
    return stop - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4143)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    task = Events(args.videos, seed=args.seed)
    t0 = time.perf_counter()
    for name in task.classes:
        sound_bank(name)
    print(f"sound banks for {task.num_classes} classes: {time.perf_counter() - t0:.1f} s (once per process)")
    t0 = time.perf_counter()
    if args.workers == 1:
        done = _render_range((args.videos, args.seed, 0, args.videos))
    else:
        step = -(-args.videos // args.workers)
        jobs = [(args.videos, args.seed, s, min(args.videos, s + step)) for s in range(0, args.videos, step)]
        with ProcessPoolExecutor(args.workers) as pool:
            done = sum(pool.map(_render_range, jobs))
    dt = time.perf_counter() - t0
    print(f"{done} events videos in {dt:.1f} s with {args.workers} worker(s): {done / dt:.1f} videos/s")


if __name__ == "__main__":
    main()
