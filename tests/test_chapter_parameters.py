"""Bad papermill parameters fail in a chapter's first cells, naming the parameter and the valid values."""
from pathlib import Path

import pytest

papermill = pytest.importorskip("papermill")

BOOK = Path(__file__).resolve().parents[1] / "book"
CASES = [  # (chapter, parameters, what the error must say)
    ("world", {"scale": "huge"}, "unknown scale 'huge'"),
    ("mil", {"seeds": []}, "seeds must be"),
    ("psp", {"data_root": "/nonexistent/AVE"}, "is not a folder"),
    ("lvs", {"device": "tpu"}, "unknown device 'tpu'"),
    ("dsol", {"seeds": [-1]}, "seeds must be"),
]


@pytest.mark.parametrize("chapter,params,message", CASES, ids=[c[0] for c in CASES])
def test_bad_parameter_fails_early_with_a_clear_message(chapter, params, message, tmp_path, monkeypatch):
    monkeypatch.setenv("AVLIB_SCALE", "smoke")
    with pytest.raises(papermill.PapermillExecutionError) as err:
        papermill.execute_notebook(str(BOOK / f"{chapter}.ipynb"), str(tmp_path / "out.ipynb"), parameters=params,
                                   cwd=str(BOOK), kernel_name="python3", progress_bar=False)
    assert message in str(err.value)
    # it failed in the configuration cell, right after the parameters: nothing was trained or rendered
    assert err.value.exec_count <= 4, f"failed in cell {err.value.exec_count}, not in the first cells"


def test_a_data_root_of_another_dataset_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("AVLIB_SCALE", "smoke")
    (tmp_path / "vggss.json").write_text("[]")   # an LVS test file handed to the PSP chapter
    with pytest.raises(papermill.PapermillExecutionError) as err:
        papermill.execute_notebook(str(BOOK / "psp.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters={"data_root": str(tmp_path)}, cwd=str(BOOK), kernel_name="python3",
                                   progress_bar=False)
    assert "AVE features layout" in str(err.value) and "visual_feature.h5" in str(err.value)
