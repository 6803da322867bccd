"""The annotation files as their authors released them: size, SHA-256 and how many rows/entries/keys,
measured on the official repositories' newest snapshots (the commit is in each ``source``).

A loader calls :func:`released_status` on each annotation file it reads (through
:meth:`avlib.datasets.io.SkipLog.file`) and shows "the released file" or how the copy differs (e.g. a
DCASE CSV cut at a line boundary: "differs from the released file (19,428 clips, expected 51,172)")
in its skip table; :func:`released_files` puts the same words in a chapter's provenance. A researcher's
modified file still loads: it is only named as modified.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ReleasedFile:
    """One annotation file as released: where from, its size and SHA-256, and how many ``unit`` it holds."""
    source: str
    bytes: int
    sha256: str
    count: int
    unit: str


_LVS = "hche11/Localizing-Visual-Sounds-the-Hard-Way@8fe8cbb"
_DSOL = "DTaoo/Discriminative-Sounding-Objects-Localization@7f40207"
_DCASE = "ankitshah009/Task-4-Large-scale-weakly-supervised-sound-event-detection-for-smart-cars@96dc262"
_AVE = "YapengTian/AVE-ECCV18@93f843f"

#: The released annotation files the loaders know, by file name (a name may have several released
#: copies), measured on the official repositories' newest snapshots. AVE's feature files (visual, audio,
#: right_labels/labels) are distributed outside the repositories: no digest is known for them.
RELEASED_FILES: dict[str, tuple[ReleasedFile, ...]] = {name: tuple(ReleasedFile(*r) for r in rows) for name, rows in {
    "vggss.json": [(f"{_LVS}:metadata/vggss.json", 620306,
                    "ae300b4a259267e6fe839970d495862edd70bfe3da63d925bcdb34054ed3b15e", 5158, "entries")],
    "flickr_test.csv": [(f"{_LVS}:metadata/flickr_test.csv", 3909,
                         "faf5465bdb991cfb7506ccadef64dfea9e9bceb47e895d0e4dbdc2a0ca622871", 249, "ids")],
    "solotest.json": [(f"{_DSOL}:music-exp/solotest.json", 2612702,
                       "57fb92b151f7306869f4f3395237d052395885dca226138539e93f72a952faa4", 13472, "keys")],
    "duettest.json": [(f"{_DSOL}:music-exp/duettest.json", 2805824,
                       "d9f0a4faa8bebf3e281ea05d04597bf4070c2210aad137322d96d79c9d155fdd", 11512, "keys")],
    "MUSIC_solo_videos.json": [(f"{_DSOL}:music-exp/data/MUSIC_label/MUSIC_solo_videos.json", 15397,
                                "cddd3e9544cac4b5e5ebd55c2707bad0eb6ad29ebff571afb70a5545d4740304", 536, "videos")],
    "MUSIC_duet_videos.json": [(f"{_DSOL}:music-exp/data/MUSIC_label/MUSIC_duet_videos.json", 4601,
                                "f53c60f22d1901b88a15592b55a7e9891ae70016d08fb6f7ec7acd04091cd2e9", 149, "videos")],
    "audioset_box.json": [(f"{_DSOL}:audioset-instrument/audioset_box.json", 805139,
                           "fa9f78ce83c1544ea780df6e4adb321ed34bd485f683f548b6f117add3417b74", 4503, "keys")],
    "groundtruth_weak_label_training_set.csv": [
        (f"{_DCASE}:groundtruth_release/groundtruth_weak_label_training_set.csv", 2942866,
         "b2d5ee10461c0ef9b21cb22eeb45c9959a02c8d2d0a17417344963c4473fec3e", 51172, "clips")],
    "groundtruth_weak_label_testing_set.csv": [
        (f"{_DCASE}:groundtruth_release/groundtruth_weak_label_testing_set.csv", 34199,
         "21490d3ddf582e5f267c4d576316be8523ace95a302a394130759d46056fd4e4", 488, "clips"),
        (f"{_DCASE}:evaluation/groundtruth/groundtruth_weak_label_testing_set.csv (CRLF)", 34805,
         "d8e309e1a1a745b2d73b04763a9419cf1acf3c091fada6e89e282e0ad425546f", 488, "clips")],
    "groundtruth_weak_label_evaluation_set.csv": [
        (f"{_DCASE}:groundtruth_release/groundtruth_weak_label_evaluation_set.csv", 75925,
         "a275dcfd040b77fa1e8bd2687e583988a9169ba2e02b97e633e5d2347011592a", 1103, "clips")],
    "Annotations.txt": [(f"{_AVE}:data/Annotations.txt", 144287,
                         "0d24a9ec5cd4ceb779ebd83d74e83ec8e55c5e468cede3f320fb57346c9dd321", 4143, "lines")],
    "train_order.h5": [(f"{_AVE}:data/train_order.h5", 28856,
                        "a216fcdd02782ba9d10c9ea79116120eb3be467740e58290e1b340d42a590456", 3339, "videos")],
    "val_order.h5": [(f"{_AVE}:data/val_order.h5", 5360,
                      "5692aec0efb30e4efa49a867a902c1993b4c88a7d3ec19879349e540e7a5d9ca", 402, "videos")],
    "test_order.h5": [(f"{_AVE}:data/test_order.h5", 5360,
                       "f9bb79defc1f784ca5dda9cdd3ee52af6d24ccb399a1cfab6bf0d373f5681076", 402, "videos")],
    "mil_labels.h5": [(f"{_AVE}:data/mil_labels.h5", 482732,
                       "63c1886c78289bcf7e748fa0fe5c18d568dac75a1f015ac41860a78f598c2bd5", 4143, "videos")],
    "labels_noisy.h5": [(f"{_AVE}:data/labels_noisy.h5", 22792,
                         "1cc2b29e7104d4da26be06b6ff2260d9392cd1d93a096c77efd938843b4ebde1", 178, "videos")],
    "audio_feature_noisy.h5": [(f"{_AVE}:data/audio_feature_noisy.h5", 1824864,
                                "d29b6efa4c985746a1d5205423c6f01bf02cf475af40c2620e4df9260d84c5f4", 178, "videos")],
}.items()}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def released_status(path, count: int | None = None) -> str:
    """``"the released file"`` when ``path`` is byte for byte the released file of its name; else how it
    differs (``count``: the rows/entries the loader read, compared with the release's); names without a
    known release say so."""
    path = Path(path)
    copies = RELEASED_FILES.get(path.name)
    if not copies:
        return "no released version known"
    size = path.stat().st_size
    if any(size == r.bytes for r in copies) and _sha256(path) in {r.sha256 for r in copies}:
        return "the released file"
    rel = copies[0]
    if count is not None:
        return f"differs from the released file ({count:,} {rel.unit}, expected {rel.count:,})"
    return f"differs from the released file ({size:,} bytes, expected {rel.bytes:,})"


def released_files(root) -> dict[str, str]:
    """``{relative path: released_status}`` for every file under ``root`` named like a released file."""
    root = Path(root)
    found = sorted(Path(d) / f for d, _, fs in os.walk(root) for f in fs if f in RELEASED_FILES)
    return {p.relative_to(root).as_posix(): released_status(p) for p in found if p.is_file()}
