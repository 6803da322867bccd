"""The AVE feature loader on tiny files written in the official HDF5 layout, and on bad files."""
import h5py
import numpy as np
import pytest
import torch

import avlib.train
from avlib.datasets import ave
from avlib.datasets.ave import NUM_CLASSES, AVEFormatError, load_ave
from avlib.datasets.io import DatasetFormatError
from avlib.experiments import psp as ex

N, M = 5, 2
SEG = np.array([[28] * 10,
                [3, 3, 3, 28, 28, 28, 28, 28, 28, 28],
                [28, 28, 7, 7, 7, 7, 28, 28, 28, 28],
                [0] * 10,
                [28, 12, 12, 28, 28, 28, 28, 28, 28, 28]])


def _write(path, key, data):
    with h5py.File(path, "w") as f:
        f.create_dataset(key, data=data)


def write_ave(root, n=N, m=M):
    """Tiny AVE: the official files, keys and shapes, with n videos (3 train, 1 val, 1 test)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    seg = SEG[:n]
    onehot = np.eye(NUM_CLASSES, dtype=np.float32)[seg]
    _write(root / "visual_feature.h5", "avadataset", rng.standard_normal((n, 10, 7, 7, 512)).astype(np.float32))
    _write(root / "audio_feature.h5", "avadataset", rng.standard_normal((n, 10, 128)).astype(np.float32))
    _write(root / "right_labels.h5", "avadataset", onehot)
    _write(root / "prob_label.h5", "avadataset", onehot.mean(1))
    _write(root / "mil_labels.h5", "avadataset", (onehot.sum(1) > 0).astype(np.float32))
    for split, idx in (("train", [0, 1, 2]), ("val", [3]), ("test", [4])):
        _write(root / f"{split}_order.h5", "order", np.array(idx, dtype=np.int64))
    _write(root / "visual_feature_noisy.h5", "avadataset", np.zeros((m, 10, 7, 7, 512), np.float32))
    _write(root / "audio_feature_noisy.h5", "avadataset", np.zeros((m, 10, 128), np.float32))
    bg = np.zeros((m, NUM_CLASSES), np.float32)
    bg[:, -1] = 1
    _write(root / "labels_noisy.h5", "avadataset", bg)
    return root


def test_full_setting(tmp_path):
    d = load_ave(write_ave(tmp_path))
    assert d["visual"].shape == (N, 10, 7, 7, 512) and d["visual"].dtype == np.float16
    assert d["audio"].shape == (N, 10, 128) and d["audio"].dtype == np.float32
    np.testing.assert_array_equal(d["segment_labels"], SEG)
    np.testing.assert_array_equal(d["event"], SEG != 28)
    assert list(d["video_label"]) == [28, 3, 7, 0, 12]  # no event segment: background, not class 0
    assert len(d["classes"]) == 28 and "weak_labels" not in d
    assert {k: list(v) for k, v in d["splits"].items()} == {"train": [0, 1, 2], "val": [3], "test": [4]}


def test_weak_setting_with_noisy_negatives(tmp_path):
    d = load_ave(write_ave(tmp_path), setting="weak")
    assert d["visual"].shape[0] == N + M and d["weak_labels"].shape == (N + M, 29)
    np.testing.assert_allclose(d["weak_labels"][1, [3, 28]], [0.3, 0.7])
    assert (d["segment_labels"][N:] == 28).all() and not d["event"][N:].any()
    assert list(d["splits"]["train"]) == [0, 1, 2, 5, 6]  # noisy videos train only
    assert list(d["video_label"][N:]) == [28, 28]  # background-only videos: the background index
    d = load_ave(tmp_path, setting="weak", noisy=False)
    assert d["visual"].shape[0] == N and d["mil_labels"].shape == (N, 29)


def test_missing_file(tmp_path):
    write_ave(tmp_path)
    (tmp_path / "audio_feature.h5").unlink()
    with pytest.raises(AVEFormatError, match=r"audio_feature\.h5: AVE file not found.*avadataset.*Nx10x128.*Fix"):
        load_ave(tmp_path)
    (tmp_path / "labels_noisy.h5").unlink()
    write_ave(tmp_path)
    (tmp_path / "labels_noisy.h5").unlink()
    load_ave(tmp_path, setting="weak", noisy=False)  # not needed without the noisy videos
    with pytest.raises(AVEFormatError, match=r"labels_noisy\.h5: AVE file not found"):
        load_ave(tmp_path, setting="weak")


def test_missing_root_and_unknown_setting(tmp_path):
    with pytest.raises(AVEFormatError, match="not a folder"):
        load_ave(tmp_path / "nope")
    with pytest.raises(ValueError, match="setting"):
        load_ave(tmp_path, setting="semi")


def test_wrong_key(tmp_path):
    write_ave(tmp_path)
    _write(tmp_path / "right_labels.h5", "labels", np.zeros((N, 10, 29), np.float32))
    with pytest.raises(AVEFormatError, match=r"right_labels\.h5: no dataset 'avadataset'.*'labels'"):
        load_ave(tmp_path)
    write_ave(tmp_path)
    _write(tmp_path / "val_order.h5", "avadataset", np.array([3]))
    with pytest.raises(AVEFormatError, match=r"val_order\.h5: no dataset 'order'"):
        load_ave(tmp_path)


def test_wrong_shape(tmp_path):
    write_ave(tmp_path)
    _write(tmp_path / "visual_feature.h5", "avadataset", np.zeros((N, 10, 7, 7, 2048), np.float32))
    with pytest.raises(AVEFormatError, match=r"visual_feature\.h5: dataset 'avadataset' has shape \(5, 10, 7, 7, 2048\).*Nx10x7x7x512"):
        load_ave(tmp_path)
    write_ave(tmp_path)
    _write(tmp_path / "audio_feature.h5", "avadataset", np.zeros((N + 1, 10, 128), np.float32))
    with pytest.raises(AVEFormatError, match=r"audio_feature\.h5: holds 6 videos but visual_feature\.h5 holds 5"):
        load_ave(tmp_path)
    write_ave(tmp_path)
    _write(tmp_path / "test_order.h5", "order", np.array([4, 9]))
    with pytest.raises(AVEFormatError, match=r"test_order\.h5: indexes videos up to 9"):
        load_ave(tmp_path)


def test_corrupt_file(tmp_path):
    write_ave(tmp_path)
    (tmp_path / "prob_label.h5").write_bytes(b"not an hdf5 file")
    with pytest.raises(AVEFormatError, match=r"prob_label\.h5: not a readable HDF5 file"):
        load_ave(tmp_path, setting="weak")


def test_runner_on_real_layout(tmp_path, monkeypatch):
    monkeypatch.setattr(avlib.train, "DEFAULT_CACHE", tmp_path / "cache")
    data = ex.load_data("smoke", "cpu", data_root=write_ave(tmp_path / "ave"))
    assert data.visual.shape == (N, 10, 7, 7, 512) and data.num_classes == 29
    torch.testing.assert_close(data.weak[1, 3], torch.tensor(0.3))
    hp = {**ex.settings("smoke"), "epochs": 1}
    for setting in ("full", "weak"):
        _, res = ex.run(data, hp, "PSP", setting, seed=0, device="cpu")
        assert 0 <= res["test"] <= 1


def test_one_error_class(tmp_path):
    assert issubclass(AVEFormatError, DatasetFormatError)
    with pytest.raises(DatasetFormatError, match="not a folder"):
        load_ave(tmp_path / "nope")


def test_chunked_read_equals_whole_file(tmp_path, monkeypatch):
    write_ave(tmp_path)
    monkeypatch.setattr(ave, "CHUNK", 2)  # 5 videos in chunks of 2, contiguous and scattered rows
    with h5py.File(tmp_path / "visual_feature.h5") as f:
        whole = f["avadataset"][()]
    np.testing.assert_array_equal(ave.read_h5(tmp_path, "visual_feature.h5", dtype=np.float16),
                                  whole.astype(np.float16))
    np.testing.assert_array_equal(ave.read_h5(tmp_path, "visual_feature.h5", rows=[0, 2, 3, 4]), whole[[0, 2, 3, 4]])


def test_subset_reads_only_the_chosen_videos(tmp_path):
    write_ave(tmp_path)
    with h5py.File(tmp_path / "visual_feature.h5") as f:
        whole = f["avadataset"][()].astype(np.float16)
    d = load_ave(tmp_path, videos={"train": 2})
    assert len(d["ids"]) == 4 and len(d["splits"]["train"]) == 2 and d["split_sizes"]["train"] == 3
    np.testing.assert_array_equal(d["visual"], whole[d["ids"]])
    np.testing.assert_array_equal(d["segment_labels"], SEG[d["ids"]])
    assert list(d["ids"][d["splits"]["test"]]) == [4]  # a split without a size: all of it
    again = load_ave(tmp_path, videos={"train": 2})
    np.testing.assert_array_equal(again["ids"], d["ids"])  # the same subset every time


def test_videos_without_one_hot_labels_are_skipped_and_counted(tmp_path):
    write_ave(tmp_path)
    onehot = np.eye(NUM_CLASSES, dtype=np.float32)[SEG]
    onehot[2, 4] = 0  # video 2 (train) has a segment without a label
    _write(tmp_path / "right_labels.h5", "avadataset", onehot)
    d = load_ave(tmp_path)
    assert list(d["ids"][d["splits"]["train"]]) == [0, 1]
    assert d["skipped"].counts() == {"train: segment labels not one-hot": 1}
    assert "video 2" in d["skipped"].frame().to_string() and "1 videos skipped" in str(d["skipped"])
    assert len(load_ave(write_ave(tmp_path))["skipped"]) == 0


def test_real_features_are_standardized_in_place_with_train_statistics(tmp_path, monkeypatch):
    monkeypatch.setattr(avlib.train, "DEFAULT_CACHE", tmp_path / "cache")
    root = write_ave(tmp_path / "ave")
    with h5py.File(root / "visual_feature.h5") as f:
        raw = torch.as_tensor(f["avadataset"][()].astype(np.float16)).float()
    tr = torch.tensor([0, 1, 2])
    want = (raw - raw[tr].mean((0, 1, 2, 3))) / raw[tr].std((0, 1, 2, 3))  # the world's formula, in float32
    data = ex.load_data("smoke", "cpu", data_root=root)
    assert data.visual.dtype == torch.float16
    torch.testing.assert_close(data.visual.float(), want, atol=2e-3, rtol=1e-3)


def test_single_class_models_are_flagged():
    import pandas as pd
    assert ex.top_class_share(np.array([[28, 28, 3], [28, 28, 28]])) == pytest.approx(5 / 6)
    runs = pd.DataFrame({"variant": ["PSP", "AVEL"], "top class (%)": [100.0, 66.8]})
    assert list(ex.degenerate(runs).variant) == ["PSP"]
