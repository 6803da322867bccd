"""The world's categories: a real object class = a Twemoji icon + a sound recipe.

Confusable pairs are there on purpose, so that neither modality alone suffices:

- same look, different sound: car / police car, guitar / banjo, man / woman;
- same sound family, different look: bell / church (bells), police car / ambulance /
  fire engine (sirens), car / bus / truck (engines), trumpet / saxophone (reeds and brass).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .assets import icon_rgba
from .sounds import render_recipe


@dataclass(frozen=True)
class Category:
    name: str
    emoji: str
    recipe: tuple
    group: str  # instrument / animal / person / vehicle / warning / thing

    @property
    def icon(self) -> np.ndarray:
        return icon_rgba(self.emoji)


_C = Category
CATEGORIES: tuple[Category, ...] = (
    # instruments (MUSIC-like, used by DSOL)
    _C("guitar", "🎸", ("gm", 25, 48, 72, "melody"), "instrument"),
    _C("banjo", "🪕", ("gm", 105, 55, 79, "melody"), "instrument"),
    _C("violin", "🎻", ("gm", 40, 62, 86, "melody"), "instrument"),
    _C("trumpet", "🎺", ("gm", 56, 58, 80, "melody"), "instrument"),
    _C("saxophone", "🎷", ("gm", 65, 50, 74, "melody"), "instrument"),
    _C("accordion", "🪗", ("gm", 21, 53, 77, "sustain"), "instrument"),
    _C("flute", "🪈", ("gm", 73, 67, 91, "melody"), "instrument"),
    _C("piano", "🎹", ("gm", 0, 45, 84, "melody"), "instrument"),
    _C("drum", "🥁", ("drums",), "instrument"),
    # animals
    _C("dog", "🐕", ("synth", "bark"), "animal"),
    _C("cat", "🐈", ("synth", "meow"), "animal"),
    _C("horse", "🐎", ("synth", "neigh"), "animal"),
    _C("goat", "🐐", ("synth", "bleat"), "animal"),
    _C("rat", "🐀", ("synth", "squeak"), "animal"),
    _C("bird", "🐦", ("gm", 123, 60, 84, "sustain"), "animal"),
    # people
    _C("man", "👨", ("speech", "en+m1", (25, 45)), "person"),
    _C("woman", "👩", ("speech", "en+f3", (60, 80)), "person"),
    _C("baby", "👶", ("speech", "en+f5", (90, 99)), "person"),
    # vehicles
    _C("car", "🚗", ("synth", "engine", {"f0": 70}), "vehicle"),
    _C("bus", "🚌", ("synth", "engine", {"f0": 48, "roughness": 0.5}), "vehicle"),
    _C("truck", "🚚", ("synth", "engine", {"f0": 38, "roughness": 0.7}), "vehicle"),
    _C("motorcycle", "🏍", ("synth", "engine", {"f0": 110, "roughness": 0.9}), "vehicle"),
    _C("train", "🚆", ("synth", "chuffs"), "vehicle"),
    _C("airplane", "✈", ("synth", "jet"), "vehicle"),
    _C("helicopter", "🚁", ("gm", 125, 55, 65, "sustain"), "vehicle"),
    _C("bicycle", "🚲", ("synth", "bell_ring", {"base": 3200, "partials": (1, 1.5, 2.1), "rings": (2, 4)}), "vehicle"),
    _C("skateboard", "🛹", ("synth", "rolling"), "vehicle"),
    # warning sounds
    _C("police car", "🚓", ("synth", "siren_wail"), "warning"),
    _C("ambulance", "🚑", ("synth", "siren_hilo"), "warning"),
    _C("fire engine", "🚒", ("synth", "siren_wail", {"lo": 450, "hi": 1100, "period": (1.8, 2.6), "timbre": 6}), "warning"),
    _C("car alarm", "🚨", ("synth", "alarm_beeps"), "warning"),
    _C("train horn", "🚂", ("synth", "horn", {"freqs": (311, 370, 440)}), "warning"),
    _C("truck horn", "🚛", ("synth", "horn", {"freqs": (220, 277)}), "warning"),
    # things
    _C("bell", "🔔", ("synth", "bell_ring"), "thing"),
    _C("church", "⛪", ("gm", 14, 48, 67, "melody"), "thing"),
    _C("alarm clock", "⏰", ("synth", "alarm_beeps", {"freq": 3500, "rate": 12}), "thing"),
    _C("telephone", "☎", ("gm", 124, 60, 72, "sustain"), "thing"),
)
BY_NAME = {c.name: c for c in CATEGORIES}

# Category sets that mirror each paper's dataset.
INSTRUMENTS = tuple(c.name for c in CATEGORIES if c.group == "instrument")
DCASE_LIKE = ("train horn", "truck horn", "car alarm", "police car", "ambulance", "fire engine",
              "baby", "bicycle", "skateboard", "car", "bus", "truck", "motorcycle", "train",
              "airplane", "helicopter", "alarm clock")
AVE_LIKE = tuple(c.name for c in CATEGORIES if c.name not in ("train horn", "truck horn", "skateboard",
                                                                  "alarm clock", "bicycle", "rat", "goat", "flute",
                                                                  "telephone"))


def get(names) -> tuple[Category, ...]:
    """Categories by name, with a clear error for unknown names."""
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown categories {unknown}; known: {sorted(BY_NAME)}")
    return tuple(BY_NAME[n] for n in names)


def _render_bank(name: str, size: int) -> np.ndarray:
    index = [c.name for c in CATEGORIES].index(name)
    rng = np.random.default_rng([7919, index])
    return np.stack([render_recipe(BY_NAME[name].recipe, rng) for _ in range(size)])


@functools.lru_cache(maxsize=None)
def sound_bank(name: str, size: int = 16) -> np.ndarray:
    """``size`` one-second variants of a category's sound, (size, 16000) float32.

    The bank is a fixed asset (seeded by the category's index, not by the world seed):
    worlds differ in how they use the sounds, not in the sounds themselves.

    libespeak-ng keeps state between utterances (measured: the same phrase differs after
    another voice has spoken), so a speech bank would depend on which speech banks a
    process rendered before it. Speech banks are therefore rendered in a fresh process
    each; with espeak's random generator reseeded per utterance (see
    :class:`avlib.world.assets._Espeak`) every bank is the same bit for bit whatever the
    order of use and whatever the process (tested in ``tests/test_world.py``).
    """
    if name not in BY_NAME:
        raise ValueError(f"unknown category {name!r}; known: {sorted(BY_NAME)}")
    if BY_NAME[name].recipe[0] != "speech":
        return _render_bank(name, size)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_render_bank, name, size).result()
