"""The loaders' shared I/O: errors, media reading, skip-and-count, subsampling, fingerprints."""
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from avlib.datasets.io import (DatasetFormatError, SkipLog, fail, fingerprint, read_audio, read_image,
                               subsample)
from avlib.repro import data_identity, provenance, save_results
from avlib.scorecard import Claim, verdict, world_only


def test_fail_names_file_problem_layout_and_fix(tmp_path):
    with pytest.raises(DatasetFormatError, match=r"x.json: broken\. Expected layout: L\. Fix: redo"):
        fail(tmp_path / "x.json", "broken", "L", "redo")


def test_read_image_resizes_and_names_missing_files(tmp_path):
    Image.fromarray(np.full((30, 50), 200, np.uint8)).save(tmp_path / "a.jpg")   # grey, not square
    img = read_image(tmp_path / "a.jpg", 16)
    assert img.shape == (16, 16, 3) and img.dtype == np.uint8 and abs(int(img.mean()) - 200) <= 2
    with pytest.raises(DatasetFormatError, match="b.jpg: frame file not found"):
        read_image(tmp_path / "b.jpg", 16)
    (tmp_path / "c.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetFormatError, match="unreadable image"):
        read_image(tmp_path / "c.jpg", 16)


def test_read_audio_crops_tiles_pads_and_resamples(tmp_path):
    ramp = np.linspace(-0.5, 0.5, 3 * 8000, dtype=np.float32)           # 3 s at 8 kHz
    sf.write(tmp_path / "long.wav", np.stack([ramp, ramp], 1), 8000)    # stereo
    centre = read_audio(tmp_path / "long.wav", 8000, 1.0)
    np.testing.assert_allclose(centre, ramp[8000:16000], atol=1e-4)
    np.testing.assert_allclose(read_audio(tmp_path / "long.wav", 8000, 1.0, crop="start"), ramp[:8000], atol=1e-4)
    assert read_audio(tmp_path / "long.wav", 16000, 1.0).shape == (16000,)   # resampled
    sf.write(tmp_path / "short.wav", np.ones(300, np.float32) * 0.25, 1000)
    assert read_audio(tmp_path / "short.wav", 1000, 1.0, short="tile").min() == pytest.approx(0.25)
    padded = read_audio(tmp_path / "short.wav", 1000, 1.0, short="pad")
    assert padded[:300].min() == pytest.approx(0.25) and not padded[300:].any()
    with pytest.raises(DatasetFormatError, match="shorter than 1 s"):
        read_audio(tmp_path / "short.wav", 1000, 1.0, short="fail")
    with pytest.raises(DatasetFormatError, match="audio file not found"):
        read_audio(tmp_path / "none.wav")


def test_skip_log_counts_reasons_and_examples():
    log = SkipLog("clips")
    assert str(log) == "no clips skipped" and len(log) == 0
    for n in "abcd":
        log.add("audio missing", n)
    log.add("no box")
    assert len(log) == 5 and log.counts() == {"audio missing": 4, "no box": 1}
    df = log.frame(total=10)
    assert list(df["count"]) == [4, 1] and df["examples"][0] == "a, b, c" and df["share"][0] == 0.4
    assert str(log) == "5 clips skipped: 4 audio missing; 1 no box"


def test_subsample_is_repeatable_sorted_and_complete_when_large():
    a, b = subsample(100, 7), subsample(100, 7)
    assert (a == b).all() and (np.diff(a) > 0).all() and len(set(a)) == 7
    assert (subsample(5, 10) == np.arange(5)).all() and (subsample(5, None) == np.arange(5)).all()
    with pytest.raises(ValueError):
        subsample(5, 0)


def test_fingerprint_follows_content_not_place_or_time(tmp_path):
    for d in ("a", "b"):
        (tmp_path / d / "frames").mkdir(parents=True)
        (tmp_path / d / "ann.json").write_text('{"x": 1}')
        (tmp_path / d / "frames" / "0.jpg").write_bytes(b"12345")
    fa = fingerprint(tmp_path / "a")
    assert fa == fingerprint(tmp_path / "b") and len(fa) == 16       # same files elsewhere: same print
    (tmp_path / "b" / "ann.json").write_text('{"x": 2}')              # same size, other content
    assert fingerprint(tmp_path / "b") != fa
    (tmp_path / "a" / "frames" / "1.jpg").write_bytes(b"1")          # a frame added
    assert fingerprint(tmp_path / "a") != fa
    assert data_identity(None) == "world" and data_identity(tmp_path / "a").startswith("real-")


def test_fingerprint_samples_large_files(tmp_path, monkeypatch):
    import avlib.datasets.io as io
    monkeypatch.setattr(io, "WHOLE_FILE_BYTES", 1000)
    monkeypatch.setattr(io, "BLOCK_BYTES", 10)
    data = bytearray(np.random.default_rng(0).integers(0, 255, 5000, dtype=np.uint8).tobytes())
    (tmp_path / "f.h5").write_bytes(bytes(data))
    before = fingerprint(tmp_path)
    data[-1] ^= 1                                                     # the last block is always read
    (tmp_path / "f.h5").write_bytes(bytes(data))
    assert fingerprint(tmp_path) != before


def test_real_data_results_go_to_their_own_file(tmp_path):
    (tmp_path / "ave").mkdir()
    (tmp_path / "ave" / "right_labels.h5").write_bytes(b"0")
    info = provenance("smoke", "cpu", [0], data_root=tmp_path / "ave", data_name="AVE")
    assert info["data"] == "AVE" and info["data_root"].endswith("ave") and len(info["data_fingerprint"]) == 16
    assert save_results("psp", {}, info, tmp_path).name == "psp-ave-smoke.json"
    assert save_results("psp", {}, provenance("smoke", "cpu"), tmp_path).name == "psp-smoke.json"


def test_world_only_claims_are_not_testable_on_real_data():
    world = Claim("x", "§1", **world_only("world", [1.0, 1.1, 0.9], "per-second truth"))
    real = Claim("x", "§1", **world_only("AVE", [1.0, 2.0, 3.0], "per-second truth"))
    assert verdict(world.diffs) == "reproduced" and world.data == "world"
    assert real.diffs is None and verdict(real.diffs) == "not testable" and real.data == "AVE"
    assert "per-second truth" in real.reason and "AVE" in real.reason
