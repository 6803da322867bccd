"""avlib core: scales and devices, seeding, log-mel shapes, the train-or-load cache, fit."""
import numpy as np
import pytest
import torch

from avlib.audio import image_to_tensor, log_mel, tensor_to_image
from avlib.calibration import ave_split
from avlib.models.encoders import AudioEncoder, VisualEncoder
from avlib.repro import check_scale, pick, provenance, resolve_device, seed_everything, source_hash
from avlib.train import batches, fit, train_or_load


def test_unknown_scale_and_device_raise_naming_valid_values():
    with pytest.raises(ValueError, match="smoke, book, paper"):
        check_scale("huge")
    with pytest.raises(ValueError, match="auto, cpu, cuda"):
        resolve_device("tpu")
    assert resolve_device("cpu") == torch.device("cpu") == resolve_device(torch.device("cpu"))
    # one canonical device: "cuda" / torch.device("cuda") become cuda:<current>, equal to their tensors' device
    for asked in ("cuda", torch.device("cuda"), "auto"):
        if torch.cuda.is_available():
            assert resolve_device(asked) == torch.zeros(1, device="cuda").device
        elif asked == "auto":
            assert resolve_device(asked) == torch.device("cpu")
        else:
            with pytest.raises(ValueError, match="is_available"):
                resolve_device(asked)
    assert pick("book", smoke=1, book=2, paper=3) == 2
    with pytest.raises(ValueError, match="missing"):
        pick("book", smoke=1, book=2)


def test_seed_everything_repeats_torch_and_numpy():
    seed_everything(7)
    a = (torch.rand(3), np.random.rand(3))
    seed_everything(7)
    b = (torch.rand(3), np.random.rand(3))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_log_mel_shapes_and_frames():
    spec = log_mel(np.zeros((2, 16000), np.float32) + 0.01)
    assert spec.shape == (2, 64, 101)  # 10 ms hop, centred: 16000 // 160 + 1 frames
    assert log_mel(torch.randn(8000)).shape == (64, 51)
    with pytest.raises(ValueError, match="at least 2 samples"):
        log_mel(np.zeros(1))


def test_log_mel_of_a_tone_peaks_at_its_band():
    t = np.arange(16000) / 16000
    low = log_mel(np.sin(2 * np.pi * 300 * t)).mean(-1).argmax()
    high = log_mel(np.sin(2 * np.pi * 3000 * t)).mean(-1).argmax()
    assert high > low + 10


def test_image_round_trip_and_bad_input():
    img = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    x = image_to_tensor(img)
    assert x.shape == (2, 3, 8, 8)
    np.testing.assert_array_equal(tensor_to_image(x), img)
    with pytest.raises(ValueError, match="uint8"):
        image_to_tensor(img.astype(np.float32))


def test_encoders_give_paper_like_shapes():
    assert VisualEncoder(32)(torch.zeros(2, 3, 112, 112)).shape == (2, 32, 7, 7)
    assert AudioEncoder()(torch.zeros(2, 16000)).shape == (2, 128)


def test_train_or_load_hits_the_cache_and_misses_on_new_config(tmp_path):
    calls = []

    def train(model):
        calls.append(1)
        with torch.no_grad():
            model.weight.fill_(len(calls))
        return {"score": float(len(calls))}

    build = lambda: torch.nn.Linear(2, 1)  # noqa: E731
    m1, r1, hit1 = train_or_load("toy", {"a": 1}, build, train, cache_dir=tmp_path)
    m2, r2, hit2 = train_or_load("toy", {"a": 1}, build, train, cache_dir=tmp_path)
    m3, r3, hit3 = train_or_load("toy", {"a": 2}, build, train, cache_dir=tmp_path)
    assert (hit1, hit2, hit3) == (False, True, False)
    assert torch.equal(m1.weight, m2.weight) and r2 == r1 and r3 == {"score": 2.0}
    assert len(list(tmp_path.glob("*.tmp"))) == 0 and len(list(tmp_path.glob("toy-*.pt"))) == 2


def test_fit_learns_a_separable_problem_and_is_repeatable():
    def run():
        seed_everything(0)
        x = torch.randn(256, 4)
        y = (x[:, 0] > 0).long()
        model = torch.nn.Linear(4, 2)
        hist = fit(model, lambda e: batches(x, y, batch_size=32, shuffle=True, seed=e),
                   lambda m, b: torch.nn.functional.cross_entropy(m(b[0]), b[1]), epochs=5, lr=0.05,
                   val_fn=lambda m: (m(x).argmax(1) == y).float().mean().item(), device="cpu", progress=False)
        return hist, model

    (h1, m1), (h2, m2) = run(), run()
    assert h1.best_val > 0.95 and h1.loss[-1] < h1.loss[0]
    assert torch.equal(m1.weight, m2.weight), "same seed must give the same weights on CPU"
    assert h1.loss == h2.loss and h1.val == h2.val, "and the same history"


def test_ave_split_proportions_and_provenance():
    tr, va, te = ave_split(4143)
    assert (tr.stop - tr.start, va.stop - va.start, te.stop - te.start) == (3339, 402, 402)
    info = provenance("smoke", "cpu", [0])
    assert info["avlib_source_hash"] == source_hash() and info["scale"] == "smoke"


def test_a_run_killed_mid_training_leaves_no_model_and_reruns_cleanly(tmp_path):
    import subprocess
    import sys
    code = (
        "import os, signal, sys, torch\n"
        "from avlib.train import atomic_save, train_or_load\n"
        "def train(model):\n"
        "    # half-way: a partial checkpoint is being written when the process is killed\n"
        "    tmp = sys.argv[1] + '/.toy-partial.pt.99.tmp'\n"
        "    open(tmp, 'wb').write(b'partial')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "train_or_load('toy', {'a': 1}, lambda: torch.nn.Linear(2, 1), train, cache_dir=sys.argv[1])\n")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True)
    assert proc.returncode == -9
    assert list(tmp_path.glob("toy-*.pt")) == [], "a killed run must leave no loadable model file"
    calls = []

    def train(model):
        calls.append(1)
        return {"ok": True}

    _, res, hit = train_or_load("toy", {"a": 1}, lambda: torch.nn.Linear(2, 1), train, cache_dir=tmp_path)
    assert (hit, res, calls) == (False, {"ok": True}, [1])
    # a truncated model file (e.g. copied while being written) is retrained, not loaded
    path = next(tmp_path.glob("toy-*.pt"))
    path.write_bytes(path.read_bytes()[:20])
    _, _, hit = train_or_load("toy", {"a": 1}, lambda: torch.nn.Linear(2, 1), train, cache_dir=tmp_path)
    assert hit is False and len(calls) == 2


def test_bad_chapter_parameters_fail_naming_the_parameter(tmp_path):
    from avlib.repro import check_parameters
    layout = {"name": "AVE features", "all_of": ["visual_feature.h5"], "doc": "data/README.md"}
    with pytest.raises(ValueError, match="unknown scale 'huge'"):
        check_parameters("huge", "cpu")
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        check_parameters("smoke", "gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device 'cuda'"):
            check_parameters("smoke", "cuda")
    for seeds in ([], [-1], [0, 0], "0,1", 3, [1.5]):
        with pytest.raises(ValueError, match="seeds must be"):
            check_parameters("smoke", "cpu", seeds)
    with pytest.raises(ValueError, match="is not a folder"):
        check_parameters("smoke", "cpu", None, tmp_path / "nope", layout)
    with pytest.raises(ValueError, match=r"AVE features layout.*visual_feature\.h5"):
        check_parameters("smoke", "cpu", None, tmp_path, layout)
    (tmp_path / "visual_feature.h5").write_bytes(b"")
    scale, device, seeds, root = check_parameters("smoke", "cpu", [2, 0], tmp_path, layout)
    assert (scale, device, seeds, root) == ("smoke", torch.device("cpu"), (2, 0), tmp_path)
    assert check_parameters("book", "auto")[2:] == (None, None)


def test_shared_encoders_do_not_depend_on_the_callers_thread_count(tmp_path):
    # CPU kernels sum in another order with another thread count; the encoders that several
    # chapters share through the cache must not depend on which chapter (1 or 2 threads) built them.
    import hashlib
    from avlib.features import pretrained_encoders

    def digest(threads):
        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            enc = pretrained_encoders("smoke", "cpu", cache_dir=tmp_path / f"t{threads}")
        finally:
            torch.set_num_threads(old)
        assert torch.get_num_threads() == old
        return hashlib.md5(b"".join(p.detach().numpy().tobytes() for p in enc.visual.parameters())).hexdigest()

    assert digest(1) == digest(2)


def test_fit_records_the_mean_batch_loss_and_stops_on_a_non_finite_one():
    x, y = torch.randn(12, 3, generator=torch.Generator().manual_seed(0)), torch.arange(12) % 2
    seed_everything(0)
    model = torch.nn.Linear(3, 2)
    seen = []

    def loss_fn(m, batch):
        loss = torch.nn.functional.cross_entropy(m(batch[0]), batch[1])
        seen.append(float(loss.detach()))
        return loss

    hist = fit(model, lambda e: batches(x, y, batch_size=5), loss_fn, epochs=2, device="cpu", progress=False)
    assert hist.loss[0] == sum(seen[:3]) / 3 and hist.loss[1] == sum(seen[3:]) / 3   # 3 batches per epoch
    with pytest.raises(FloatingPointError, match="non-finite training loss at epoch 0"):
        fit(model, lambda e: batches(x, y, batch_size=5), lambda m, b: m(b[0]).sum() * float("nan"), epochs=1,
            device="cpu", progress=False)


def test_flattened_by_hand():
    from avlib.train import flattened
    assert flattened([50, 60, 70, 70.3, 70.4, 70.2, 70.5, 70.6])        # last 2 best 70.6 vs 70.5 before: +0.1
    assert not flattened([50, 60, 62, 64, 66, 68, 70, 72])              # still climbing: +4 in the last quarter
    assert flattened([50, 60, 70, 69, 68, 67, 66, 65])                  # falling after its best: flat (overfits)
    assert not flattened([1, 2, 3, 4], tol=0.5) and flattened([1, 2, 3, 4], tol=1.0)
    assert not flattened([1.0])                                          # one epoch shows no plateau
