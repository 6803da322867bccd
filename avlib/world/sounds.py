"""Sound recipes: one second of a category's sound from a seeded generator.

Three kinds of recipe, all mono float32 at 16 kHz, loudness-normalised to RMS 0.1:

- ``gm``: notes of a General-MIDI program (soundfont; see :mod:`.assets`);
- ``speech``: espeak-ng phrases with a voice and pitch;
- synthesized recipes below, for sounds no asset has (sirens, engines, animal calls).
"""
from __future__ import annotations

import numpy as np

from .assets import SAMPLE_RATE, soundfont_notes, speech

TARGET_RMS = 0.1
_T = np.arange(SAMPLE_RATE, dtype=np.float64) / SAMPLE_RATE

WORDS = ("hello", "yes", "look", "over here", "one two three", "good morning", "listen",
         "thank you", "come on", "right now", "okay", "what is that", "nice", "let's go")


def normalise(wave: np.ndarray, rms: float = TARGET_RMS) -> np.ndarray:
    """Scale to a target RMS (silence stays silence)."""
    level = float(np.sqrt(np.mean(wave.astype(np.float64) ** 2)))
    return (wave * (rms / level)).astype(np.float32) if level > 1e-8 else wave.astype(np.float32)


def fit_length(wave: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Crop a random window of ``n`` samples, or tile a short sound to ``n``."""
    if len(wave) >= n:
        start = rng.integers(0, len(wave) - n + 1)
        return wave[start:start + n]
    reps = int(np.ceil(n / max(1, len(wave))))
    return np.tile(wave, reps)[:n]


def _lowpass(x: np.ndarray, alpha: float) -> np.ndarray:
    """One-pole low-pass, y[n] = y[n-1] + alpha (x[n] - y[n-1])."""
    from scipy.signal import lfilter
    return lfilter([alpha], [1, alpha - 1], x)


def _harmonic(f_inst: np.ndarray, n_harm: int, decay: float = 0.6) -> np.ndarray:
    phase = 2 * np.pi * np.cumsum(f_inst) / SAMPLE_RATE
    return sum((decay ** k) * np.sin((k + 1) * phase) for k in range(n_harm))


def _burst_env(onsets, length: float, attack: float = 0.01) -> np.ndarray:
    env = np.zeros_like(_T)
    for on in onsets:
        m = (_T >= on) & (_T < on + length)
        x = (_T[m] - on)
        env[m] = np.minimum(1, x / attack) * np.exp(-3 * x / length)
    return env


# -------------------------------------------------------------- synthesized recipes

def engine(rng, f0, roughness=0.3):
    f = f0 * rng.uniform(0.85, 1.15) * (1 + 0.04 * np.sin(2 * np.pi * rng.uniform(1, 4) * _T))
    tone = _harmonic(f, 12, 0.8)
    noise = _lowpass(rng.standard_normal(len(_T)), 0.05)
    am = 1 + roughness * np.sin(2 * np.pi * f0 / 4 * _T)
    return (tone * am + 3 * noise)


def siren_wail(rng, lo=700, hi=1500, period=(0.8, 1.6), timbre=3):
    p = rng.uniform(*period)
    f = lo + (hi - lo) * 0.5 * (1 - np.cos(2 * np.pi * (_T / p + rng.uniform())))
    return _harmonic(f, timbre, 0.5)


def siren_hilo(rng, a=960, b=770, step=0.35):
    s = step * rng.uniform(0.9, 1.1)
    f = np.where(((_T + rng.uniform(0, s)) // s) % 2 == 0, a, b)
    return _harmonic(f.astype(float), 4, 0.5)


def alarm_beeps(rng, freq=2000, rate=4):
    r = rate * rng.uniform(0.8, 1.25)
    gate = (((_T + rng.uniform(0, 1 / r)) * r) % 1) < 0.5
    return np.sign(np.sin(2 * np.pi * freq * rng.uniform(0.95, 1.05) * _T)) * gate * 0.5


def horn(rng, freqs=(311, 370)):
    s = rng.uniform(0.9, 1.1)
    start, stop = rng.uniform(0, 0.3), rng.uniform(0.6, 1.0)
    gate = ((_T > start) & (_T < stop)).astype(float)
    return sum(_harmonic(np.full_like(_T, f * s), 8, 0.8) for f in freqs) * _lowpass(gate, 0.01)


def chuffs(rng, rate=(3, 6)):
    r = rng.uniform(*rate)
    env = _burst_env(np.arange(rng.uniform(0, 1 / r), 1, 1 / r), 0.15)
    return _lowpass(rng.standard_normal(len(_T)), 0.3) * env + 0.2 * engine(rng, 45)


def jet(rng):
    whine = np.sin(2 * np.pi * rng.uniform(2500, 3500) * _T) * 0.3
    roar = _lowpass(rng.standard_normal(len(_T)), rng.uniform(0.1, 0.2))
    return roar * 4 + whine


def rolling(rng):
    clicks = _burst_env(np.arange(rng.uniform(0, .25), 1, rng.uniform(0.2, 0.35)), 0.03)
    return _lowpass(rng.standard_normal(len(_T)), 0.4) * (0.4 + 2 * clicks)


def bell_ring(rng, base=2400, partials=(1, 1.32, 1.78, 2.4), rings=(1, 3)):
    out = np.zeros_like(_T)
    for on in np.sort(rng.uniform(0, 0.7, rng.integers(*rings))):
        m = _T >= on
        f = base * rng.uniform(0.95, 1.05)
        out[m] += sum(np.sin(2 * np.pi * f * p * (_T[m] - on)) / (i + 1)
                      for i, p in enumerate(partials)) * np.exp(-6 * (_T[m] - on))
    return out


def bark(rng):
    onsets = np.sort(rng.uniform(0, 0.75, rng.integers(1, 4)))
    f0 = rng.uniform(350, 600)
    f = f0 * (1 + 0.3 * np.exp(-((_T % 0.25) / 0.05)))
    return _harmonic(f, 8, 0.7) * _burst_env(onsets, 0.18) + 0.3 * rng.standard_normal(len(_T)) * _burst_env(onsets, 0.1)


def meow(rng):
    on, ln = rng.uniform(0, 0.3), rng.uniform(0.5, 0.7)
    x = np.clip((_T - on) / ln, 0, 1)
    f = rng.uniform(450, 600) * (1 + 0.5 * np.sin(np.pi * x))
    env = np.sin(np.pi * x) * ((_T >= on) & (_T < on + ln))
    return _harmonic(f, 6, 0.6) * env


def neigh(rng):
    on, ln = rng.uniform(0, 0.2), rng.uniform(0.6, 0.8)
    x = np.clip((_T - on) / ln, 0, 1)
    f = rng.uniform(900, 1200) * (1 - 0.4 * x) * (1 + 0.08 * np.sin(2 * np.pi * 14 * _T))
    return _harmonic(f, 5, 0.5) * np.sin(np.pi * x) * ((_T >= on) & (_T < on + ln))


def bleat(rng):
    on, ln = rng.uniform(0, 0.3), rng.uniform(0.5, 0.7)
    x = np.clip((_T - on) / ln, 0, 1)
    f = np.full_like(_T, rng.uniform(300, 420))
    trem = 1 + 0.8 * np.sin(2 * np.pi * rng.uniform(15, 25) * _T)
    return _harmonic(f, 10, 0.75) * trem * np.sin(np.pi * x) * ((_T >= on) & (_T < on + ln))


def squeak(rng):
    onsets = np.sort(rng.uniform(0, 0.85, rng.integers(2, 6)))
    f = rng.uniform(3000, 5000) * (1 + 0.2 * np.sin(2 * np.pi * 30 * _T))
    return np.sin(2 * np.pi * np.cumsum(f) / SAMPLE_RATE) * _burst_env(onsets, 0.08)


SYNTH_RECIPES = {
    "engine": engine, "siren_wail": siren_wail, "siren_hilo": siren_hilo, "alarm_beeps": alarm_beeps,
    "horn": horn, "chuffs": chuffs, "jet": jet, "rolling": rolling, "bell_ring": bell_ring,
    "bark": bark, "meow": meow, "neigh": neigh, "bleat": bleat, "squeak": squeak,
}

# ------------------------------------------------------------------ recipe runner

def _gm_clip(rng, program, lo, hi, style, drums=False):
    if drums:
        keys = (35, 36, 38, 40, 42, 46, 49, 51)
        step = rng.uniform(0.12, 0.25)
        notes = [(t, int(rng.choice(keys)), 0.1) for t in np.arange(0, 0.95, step)]
        return soundfont_notes(0, notes, drums=True)
    if style == "sustain":
        k = int(rng.integers(lo, hi + 1))
        notes = [(0.0, k, 0.95)] + ([(0.0, k + 4, 0.95)] if rng.uniform() < 0.5 else [])
    else:
        n = int(rng.integers(3, 7))
        onsets = np.sort(rng.uniform(0, 0.85, n))
        onsets[0] = 0.0
        lens = np.diff(np.append(onsets, 1.0)) * 0.95
        notes = [(float(o), int(rng.integers(lo, hi + 1)), float(max(ln, 0.05))) for o, ln in zip(onsets, lens)]
    return soundfont_notes(program, notes, velocity=int(rng.integers(80, 121)))


def render_recipe(recipe: tuple, rng: np.random.Generator) -> np.ndarray:
    """One second of the sound described by ``recipe``, RMS-normalised."""
    kind, *args = recipe
    if kind == "gm":
        wave = _gm_clip(rng, *args)
    elif kind == "drums":
        wave = _gm_clip(rng, 0, 0, 0, "", drums=True)
    elif kind == "speech":
        voice, (plo, phi) = args
        text = " ".join(rng.choice(WORDS, 3))
        wave = fit_length(speech(text, voice, int(rng.integers(plo, phi + 1)), int(rng.integers(150, 200))),
                          SAMPLE_RATE, rng)
    elif kind == "synth":
        name, params = args[0], (args[1] if len(args) > 1 else {})
        wave = SYNTH_RECIPES[name](rng, **params)
    else:
        raise ValueError(f"unknown recipe kind {kind!r}")
    wave = np.asarray(wave, dtype=np.float64)[:SAMPLE_RATE]
    fade = np.minimum(1, np.minimum(np.arange(len(wave)), np.arange(len(wave))[::-1]) / 80)
    return normalise((wave * fade).astype(np.float32))
