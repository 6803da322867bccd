"""The procedural audio-visual world: categories, scenes and four task builders.

>>> from avlib.world import Events
>>> video = Events(n=100, seed=0)[0]          # frames (10, 112, 112, 3), audio (160000,)

Task builders, each mirroring one dataset's structure:

- :class:`Events` (AVE-like, PSP) — :mod:`avlib.world.events`
- :class:`SingleSource` (Flickr-SoundNet / VGG-SS-like, LVS) — :mod:`avlib.world.single_source`
- :class:`Cocktail` (MUSIC solo / duet / synthetic mosaics, DSOL) — :mod:`avlib.world.cocktail`
- :class:`WeakMultilabel` (DCASE 2017 task 4-like, Parekh et al.) — :mod:`avlib.world.multilabel`
- :class:`Pretrain` (single-object images and sounds for encoder pretraining) — :mod:`avlib.world.pretrain`
"""
from .categories import AVE_LIKE, CATEGORIES, DCASE_LIKE, INSTRUMENTS, Category, sound_bank
from .cocktail import Cocktail
from .events import Events
from .multilabel import WeakMultilabel
from .pretrain import Pretrain
from .single_source import SingleSource

TASKS = {"events": Events, "single_source": SingleSource, "cocktail": Cocktail,
         "weak_multilabel": WeakMultilabel, "pretrain": Pretrain}

__all__ = ["AVE_LIKE", "CATEGORIES", "DCASE_LIKE", "INSTRUMENTS", "Category", "sound_bank", "Cocktail",
           "Events", "WeakMultilabel", "Pretrain", "SingleSource", "TASKS"]
