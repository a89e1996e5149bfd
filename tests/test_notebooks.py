"""The three notebooks run top to bottom (nbmake, tiny mode) and are committed as
notebooks/build_notebooks.py writes them, without outputs."""

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ("all_results_notebook.ipynb", "run_attfind.ipynb", "classifier_training.ipynb")


def test_notebooks_are_generated_and_have_no_outputs():
    sys.path.insert(0, str(NOTEBOOKS))
    try:
        import build_notebooks
    finally:
        sys.path.pop(0)
    for name, cells in zip(NAMES, (build_notebooks.ALL_RESULTS, build_notebooks.RUN_ATTFIND,
                                   build_notebooks.CLASSIFIER_TRAINING)):
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        assert [c["source"] for c in nb["cells"]] == [c["source"] for c in cells], f"{name}: re-run build_notebooks.py"
        assert all(not c.get("outputs") for c in nb["cells"]), f"{name} is committed with outputs"
        assert "STYLEX_NOTEBOOK_TINY" in nb["cells"][1]["source"]


@pytest.mark.skipif(not (NOTEBOOKS.parent / "models" / "world-smile" / "stylex.pt").is_file(),
                    reason="the shipped model (models/world-smile) is missing")
def test_notebooks_run_in_tiny_mode(tmp_path):
    # TMPDIR: the notebooks' tiny-mode work folders (tempfile.mkdtemp) go where pytest removes them.
    env = {**os.environ, "STYLEX_NOTEBOOK_TINY": "1", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
           "TMPDIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "pytest", "-q", "--nbmake", "-p", "no:cacheprovider", "--nbmake-timeout", "240",
           *[str(NOTEBOOKS / n) for n in NAMES]]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "3 passed" in proc.stdout
    assert len(list(tmp_path.glob("stylex_nb_*"))) == 3  # each notebook worked where pytest cleans up
