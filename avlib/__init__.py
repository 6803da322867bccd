"""avlib: the library under avbook, a reproducible book on audio-visual localization.

Modules, one concern each:

- :mod:`avlib.repro`     seeding, scales, devices, provenance
- :mod:`avlib.world`     the procedural audio-visual world (categories, scenes, task builders)
- :mod:`avlib.audio`     log-mel features (torchaudio) and image transforms
- :mod:`avlib.models`    encoders and the papers' models
- :mod:`avlib.train`     a small fit/evaluate loop with a train-or-load checkpoint cache
- :mod:`avlib.features`  pretrained world encoders and frozen-feature extraction
- :mod:`avlib.metrics`   evaluation metrics
- :mod:`avlib.datasets`  loaders for the real datasets' public layouts
- :mod:`avlib.viz`       plots
"""

import warnings

__version__ = "0.1.0"

# avlib's progress bars are tqdm.auto: widgets where ipywidgets is installed, text bars
# otherwise (as in this book's environment); the latter case needs no warning.
warnings.filterwarnings("ignore", message="IProgress not found")
