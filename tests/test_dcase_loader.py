"""The DCASE 2017 task 4 loader on tiny files written in the public weak-label format, and on bad ones."""
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from avlib.datasets.dcase import DCASE_CLASSES, SPLIT_FILES, DCASE2017Task4, DCASEFormatError, read_weak_labels

CLIPS = {"--0PQM4-hqg_30.000_40.000.wav": ["Bus", "Air horn, truck horn"],
         "-5QrBL6MzLg_60.000_70.000.wav": ["Train horn"]}


def write_root(root, clips=CLIPS, sr=44100, seconds=10.0, y_prefix=True):
    rows = []
    for name, labels in clips.items():
        t0, t1 = name[:-4].split("_")[-2:]
        rows += [f"{name}\t{t0}\t{t1}\t{lb}" for lb in labels]
        (root / "audio").mkdir(parents=True, exist_ok=True)
        wave = 0.1 * np.sin(2 * np.pi * 440 * np.arange(int(sr * seconds)) / sr)
        sf.write(root / "audio" / (("Y" if y_prefix else "") + name), np.stack([wave, wave], 1), sr)
        folder = root / "frames" / name[:-4]
        folder.mkdir(parents=True, exist_ok=True)
        for t in range(10):
            Image.fromarray(np.full((90, 160, 3), 20 * t, np.uint8)).save(folder / f"{t}.jpg")
    for split in ("train", "val", "test"):
        (root / SPLIT_FILES[split]).write_text("\n".join(rows) + "\n")
    return root


def test_reads_public_format(tmp_path):
    ds = DCASE2017Task4(write_root(tmp_path), "val")
    assert len(ds) == 2 and len(ds.skipped) == 0 and ds.classes == DCASE_CLASSES and len(DCASE_CLASSES) == 17
    s = ds[0]
    assert s["frames"].shape == (10, 112, 112, 3) and s["frames"].dtype == np.uint8
    assert s["audio"].shape == (160000,) and s["audio"].dtype == np.float32 and s["sample_rate"] == 16000
    assert abs(np.sqrt(np.mean(s["audio"] ** 2)) - 0.1 / np.sqrt(2)) < 0.01     # resampled 44.1 → 16 kHz
    assert s["labels"].sum() == 2
    assert s["labels"][DCASE_CLASSES.index("Bus")] == 1
    assert s["labels"][DCASE_CLASSES.index("Air horn, truck horn")] == 1
    assert ds[1]["labels"][DCASE_CLASSES.index("Train horn")] == 1


def test_short_audio_is_padded(tmp_path):
    ds = DCASE2017Task4(write_root(tmp_path, seconds=6.5, sr=16000, y_prefix=False), "train")
    a = ds[0]["audio"]
    assert a.shape == (160000,) and np.all(a[int(6.5 * 16000):] == 0)


@pytest.mark.parametrize("line,match", [
    ("clip_0.000_10.000.wav\t0.000\t10.000", "4"),
    ("clip_0.000_10.000.wav\t0.000\t10.000\tUnicorn", "unknown label"),
    ("clip_0.000_10.000.wav\tzero\t10.000\tCar", "not numbers"),
    ("clip_0.000_10.000.mp3\t0.000\t10.000\tCar", "wav"),
])
def test_bad_rows(tmp_path, line, match):
    f = tmp_path / SPLIT_FILES["train"]
    f.write_text(line + "\n")
    with pytest.raises(DCASEFormatError, match=match) as err:
        read_weak_labels(f)
    assert str(f) in str(err.value) and "Fix" in str(err.value) and "line 1" in str(err.value)


def test_missing_files(tmp_path):
    with pytest.raises(DCASEFormatError, match="not a directory"):
        DCASE2017Task4(tmp_path / "nowhere")
    with pytest.raises(DCASEFormatError, match="groundtruth_weak_label_training_set.csv: file not found"):
        DCASE2017Task4(tmp_path)
    root = write_root(tmp_path)
    name, other = list(CLIPS)
    (root / "audio" / f"Y{name}").unlink()
    with pytest.raises(DCASEFormatError, match="audio file missing for clip"):
        DCASE2017Task4(root, "test", missing="raise")
    ds = DCASE2017Task4(root, "test")                      # default: skip and count
    assert ds.names == [other] and ds.listed == 2 and ds.skipped.counts() == {"audio file missing": 1}
    assert name in ds.skip_table()["examples"][0] and ds.skip_table()["share"][0] == 0.5
    (root / "frames" / other[:-4] / "3.jpg").unlink()
    with pytest.raises(DCASEFormatError, match="none of the 2 listed clips"):
        DCASE2017Task4(root, "test")
    with pytest.raises(ValueError, match="unknown split"):
        DCASE2017Task4(root, "dev")
    with pytest.raises(ValueError, match="missing must be"):
        DCASE2017Task4(root, "test", missing="ignore")


def test_frame_lost_after_listing(tmp_path):
    root = write_root(tmp_path)
    name = next(iter(CLIPS))
    (root / "frames" / name[:-4] / "3.jpg").unlink()
    with pytest.raises(DCASEFormatError, match="frame 3 missing"):
        DCASE2017Task4(root, "test", missing="raise")
    assert DCASE2017Task4(root, "test").skipped.counts() == {"frame files missing": 1}
    write_root(root)
    ds = DCASE2017Task4(root, "train")
    (root / "frames" / ds.names[0][:-4] / "3.jpg").unlink()
    with pytest.raises(DCASEFormatError, match="3.jpg: frame file not found"):
        ds[0]


def test_official_class_order():
    # sound_event_list_17_classes.txt of the DCASE 2017 task 4 repository, in file order
    assert DCASE_CLASSES[:4] == ("Train horn", "Air horn, truck horn", "Car alarm", "Reversing beeps")
    assert DCASE_CLASSES[4:11] == ("Bicycle", "Skateboard", "Ambulance (siren)", "Fire engine, fire truck (siren)",
                                   "Civil defense siren", "Police car (siren)", "Screaming")
    assert DCASE_CLASSES[11:] == ("Car", "Car passing by", "Bus", "Truck", "Motorcycle", "Train")


def test_subsample_and_identity_in_config(tmp_path):
    clips = {f"clip{i:07d}_{i}.000_{i + 10}.000.wav": ["Car"] for i in range(6)}
    root = write_root(tmp_path, clips=clips, sr=16000, y_prefix=False)
    a = DCASE2017Task4(root, "train", size=3, identity="real-abc")
    b = DCASE2017Task4(root, "train", size=3, identity="real-abc")
    assert a.n == 3 and a.names == b.names and a.available == 6
    assert "real-abc" in a.config and str(root) not in a.config
    assert DCASE2017Task4(root, "train", size=3, identity="real-xyz").config != a.config
    assert DCASE2017Task4(root, "train", size=4, identity="real-abc").config != a.config


def test_cached_resampler_matches_functional(tmp_path):
    import torch
    import torchaudio
    root = write_root(tmp_path)
    ds = DCASE2017Task4(root, "val")
    wave, sr = sf.read(ds.audio_path(ds.names[0]), dtype="float32", always_2d=True)
    ref = torchaudio.functional.resample(torch.from_numpy(wave.mean(1)), sr, 16000).numpy()[:160000]
    assert np.abs(ds[0]["audio"] - ref).max() < 1e-5


def test_corrupt_media(tmp_path):
    root = write_root(tmp_path)
    name = next(iter(CLIPS))
    (root / "audio" / f"Y{name}").write_bytes(b"not a wav")
    (root / "frames" / name[:-4] / "0.jpg").write_bytes(b"not a jpeg")
    ds = DCASE2017Task4(root, "train")
    with pytest.raises(DCASEFormatError, match="unreadable"):
        ds[0]
