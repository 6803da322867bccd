"""The LVS chapter end to end on tiny Flickr-SoundNet + VGG-SS files in the released formats (papermill, smoke)."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chapter_runner import run_chapter, shown_text  # noqa: E402

from avlib.datasets.io import fingerprint  # noqa: E402
from avlib.experiments import lvs as X  # noqa: E402

FLICKR_XMLS = ["10000130166", "10007936344", "10008553263", "10009662863", "10013411946", "10014440335"]
FLICKR_LISTED = ["10000130166", "10008553263", "10009662863", "10014440335"]   # a subset, as the release
BOX = "<object><bbox><label>{k}</label><xmin>{}</xmin><ymin>{}</ymin><xmax>{}</xmax><ymax>{}</ymax></bbox></object>"
VGGSS = [
    {"file": "zpWuikVorYg_000032", "class": "elk bugling", "bbox": [[0.403125, 0.253125, 0.6, 0.75]]},
    {"file": "gEvCUcZ6w88_000030", "class": "female speech, woman speaking",
     "bbox": [[0.05, 0.35625, 0.753125, 0.98125], [0.384375, 0.859375, 0.696875, -2.8823037615171176e+16]]},
    {"file": "MKC9LvRivTM_000030", "class": "playing french horn",            # every box invalid: kept, empty gt
     "bbox": [[0.396875, 0.6625, -2.8823037615171176e+16, 0.984375]]},
    {"file": "JIemsK_0lXc_000364", "class": "playing bass drum", "bbox": [[0.03125, 0.3625, 0.36875, 0.9875]]},
    {"file": "RgyqhpOJFM4_000030", "class": "playing cello", "bbox": [[0.396875, 0.021875, 0.6875, 0.99375]]},
]


def _media(folder, name, rng):
    (folder / "frames").mkdir(parents=True, exist_ok=True)
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)).save(folder / "frames" / f"{name}.jpg")
    sf.write(folder / "audio" / f"{name}.wav", rng.uniform(-0.3, 0.3, 22050 * 2).astype(np.float32), 22050)


def build_root(root):
    """flickr/ (6 XMLs, 4 listed in flickr_test.csv, one box past 256) and vggss/ (5 entries, one all invalid)."""
    rng = np.random.default_rng(0)
    fl = root / "flickr"
    (fl / "Annotations").mkdir(parents=True)
    for j, name in enumerate(FLICKR_XMLS):
        boxes = [(40, 50, 200, 230), (60, 40, 220, 240), (30, 70, 190, 250)]
        if j == 2:
            boxes[1] = (60, 40, 300, 240)                                      # outside 0..256
        xml = "".join(BOX.format(*b, k=k + 1) for k, b in enumerate(boxes))
        (fl / "Annotations" / f"{name}.xml").write_text(
            f"<annotation><filename>{name}.jpg</filename>{xml}</annotation>")
        if name in FLICKR_LISTED:
            _media(fl, name, rng)
    (fl / "flickr_test.csv").write_bytes("".join(f"{i},{7 * k}\r\n" for k, i in enumerate(FLICKR_LISTED)).encode())
    vg = root / "vggss"
    vg.mkdir(parents=True)
    (vg / "vggss.json").write_text(json.dumps(VGGSS))
    for e in VGGSS:
        _media(vg, e["file"], rng)
    return root


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    root = build_root(tmp_path_factory.mktemp("data"))
    nb, res = run_chapter("lvs", tmp_path_factory.mktemp("run"), root)
    return root, nb, res


def test_chapter_on_real_files(real_run):
    root, nb, res = real_run
    prov = res["provenance"]
    assert prov["data"] == X.DATA_NAMES[("flickr", "vggss")] and prov["data_root"] == str(root)
    assert prov["data_fingerprint"] == fingerprint(root)
    # official denominators: the CSV's subset (not all 6 XMLs) and every JSON entry (the all-invalid one too)
    sizes = {r["test set"]: r for r in res["results"]["real_test_sets"]}
    assert sizes["Flickr-SoundNet test"]["listed"] == sizes["Flickr-SoundNet test"]["evaluated"] == len(FLICKR_LISTED)
    assert sizes["VGG-SS test"]["listed"] == sizes["VGG-SS test"]["evaluated"] == len(VGGSS)
    assert res["results"]["test_sets"]["flickr"]["evaluated"] == len(FLICKR_LISTED)
    assert res["results"]["test_sets"]["vggss"]["evaluated"] == len(VGGSS)
    text = shown_text(nb)
    assert "box coordinate outside 0..256 (official int() and slicing" in text
    assert "entry with no non-empty box: kept, empty ground truth (a failure)" in text
    assert "Skipped on real data" in text and "world's ground truth" in text
    assert "Test data: Flickr-SoundNet test (real files)" in text
    claims = {c["claim"]: c for c in res["results"]["claims"]}
    assert claims["hard negatives keep the peak off silent objects"]["verdict"] == "not testable"
    assert all(c["data"] == X.DATA_NAMES[("flickr", "vggss")] for c in claims.values())
    assert {r["test"] for r in res["results"]["main"]} == {"flickr", "vggss"}


@pytest.mark.parametrize("root_of", ["subfolder", "another dataset"])
def test_a_wrong_root_fails_in_the_first_cells(tmp_path, root_of):
    import papermill
    root = build_root(tmp_path / "data")
    if root_of == "subfolder":
        root = root / "vggss"                                  # the subfolder instead of its parent
    else:
        root = tmp_path / "ave"                                # another dataset's folder
        root.mkdir()
        (root / "visual_feature.h5").write_bytes(b"")
    with pytest.raises(papermill.PapermillExecutionError) as err:
        run_chapter("lvs", tmp_path, root)
    assert "flickr/Annotations/*.xml" in str(err.value) and "vggss/vggss.json" in str(err.value)
    assert err.value.exec_count <= 4                           # the parameter check, before anything runs


def test_one_test_set_is_evaluated_alone_and_says_so(tmp_path):
    """Only VGG-SS under data_root: its table and claims, the Flickr table skipped, the cross-set claim not testable."""
    import shutil
    root = build_root(tmp_path / "data")
    shutil.rmtree(root / "flickr")
    nb, res = run_chapter("lvs", tmp_path, root)
    assert res["provenance"]["data"] == "VGG-SS" and X.test_sets(root) == ("vggss",)
    assert {r["test"] for r in res["results"]["main"]} == {"vggss"}
    text = shown_text(nb)
    assert "No Flickr-SoundNet test under `data_root`" in text and "Skipped: no Flickr-SoundNet test" in text
    assert "Test data: VGG-SS test (real files)" in text and "Test data: Flickr" not in text
    claims = {c["claim"]: c for c in res["results"]["claims"]}
    assert claims["the VGG-SS test is harder than Flickr"]["verdict"] == "not testable"
    on_notes = [claims[c]["note"] for c in ("hard negatives boost localization", "more training data helps",
                                            "the tri-map helps")]
    # each says which test set it was measured on, unless the tiny fixture left it no room to move (that reason then)
    assert all("measured on VGG-SS test" in n or n.startswith("no room to move") for n in on_notes), on_notes
    assert all(c["data"] == "VGG-SS" for c in claims.values())


def test_changed_data_changes_the_key_and_the_evaluation(tmp_path):
    """Evaluation on real files is never cached (nothing is written); a changed file changes the data
    identity in the split keys and the evaluated ground truth."""
    from avlib.train import DEFAULT_CACHE
    root = build_root(tmp_path / "data")
    cfg = X.settings("smoke")
    before = set(DEFAULT_CACHE.glob("*")) if DEFAULT_CACHE.exists() else set()
    from avlib.features import pretrained_encoders
    enc = pretrained_encoders("smoke", "cpu")
    a, _, _ = X.real_tests(root, cfg, enc)
    changed = json.loads((root / "vggss" / "vggss.json").read_text())
    changed[0]["bbox"] = [[0.0, 0.0, 0.5, 0.5]]
    (root / "vggss" / "vggss.json").write_text(json.dumps(changed))
    b, _, _ = X.real_tests(root, cfg, enc)
    assert a["vggss"]["key"] != b["vggss"]["key"] and a["flickr"]["key"] != b["flickr"]["key"]
    assert not bool((a["vggss"]["gt"][0] == b["vggss"]["gt"][0]).all())
    after = set(DEFAULT_CACHE.glob("*")) if DEFAULT_CACHE.exists() else set()
    assert not {p for p in after - before if "real" in p.name}  # nothing data-dependent written to the cache
