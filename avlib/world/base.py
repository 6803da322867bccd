"""The task-builder base: a lazily rendered, index-addressable, seeded dataset.

Sample ``i`` of a task is rendered from ``np.random.default_rng([seed, task_id, i, stream])``
alone, so any sample can be drawn in any order, in parallel or in shards, and the same
seed gives the same arrays bit for bit. Separate streams drive the plan, the frames,
the audio and the silent distractors, so that (for instance) adding silent objects
changes the frames but not a single audio sample.
"""
from __future__ import annotations

import dataclasses
import zlib

import numpy as np

from . import categories as cats

STREAMS = {"plan": 0, "visual": 1, "audio": 2, "distract": 3}


class WorldTask:
    """Base of the four task builders; subclasses define ``Config`` and ``render``."""

    Config: type
    name: str = "task"
    #: which variants of each sound bank this task may use; the pretraining split uses
    #: the others, so the frozen encoders never heard the exact sounds of the tasks
    sound_variants = slice(8, 16)

    def __init__(self, n: int, seed: int = 0, config=None, **knobs):
        if n < 1:
            raise ValueError(f"a {self.name} task needs n >= 1 samples, got {n}")
        base = config if config is not None else self.Config()
        valid = {f.name for f in dataclasses.fields(self.Config)}
        unknown = sorted(set(knobs) - valid)
        if unknown:
            raise ValueError(f"unknown {self.name} knobs {unknown}; valid: {sorted(valid)}")
        self.config = dataclasses.replace(base, **knobs)
        self.n, self.seed = int(n), int(seed)
        self.categories = cats.get(self.config.classes)
        self.classes = tuple(c.name for c in self.categories)
        self._task_id = zlib.crc32(self.name.encode())

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return self.n

    def rngs(self, i: int) -> dict[str, np.random.Generator]:
        return {k: np.random.default_rng([self.seed, self._task_id, i, v]) for k, v in STREAMS.items()}

    def __getitem__(self, i: int) -> dict:
        if not -self.n <= i < self.n:
            raise IndexError(f"sample {i} out of range for a {self.name} task of {self.n}")
        i = i % self.n
        sample = self.render(i, self.rngs(i))
        sample["index"] = i
        return sample

    def __iter__(self):
        return (self[i] for i in range(self.n))

    def render(self, i: int, rng: dict) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def sound(self, cls: int, rng: np.random.Generator, gain_range=(0.7, 1.3)) -> np.ndarray:
        """A random variant of class ``cls``'s sound with a random gain and circular shift."""
        bank = cats.sound_bank(self.classes[cls])[self.sound_variants]
        wave = bank[rng.integers(len(bank))] * rng.uniform(*gain_range)
        return wave.astype(np.float32)

    def others(self, rng, exclude, k: int) -> list[int]:
        """``k`` distinct classes other than those in ``exclude``."""
        pool = [c for c in range(self.num_classes) if c not in set(exclude)]
        return [int(c) for c in rng.choice(pool, size=min(k, len(pool)), replace=False)]

    def __repr__(self):
        return f"{type(self).__name__}(n={self.n}, seed={self.seed}, {self.num_classes} classes)"
