"""Reliability: bad command-line arguments end in one line naming the argument and what is allowed
(exit 2), before any long work and before anything is written."""

import pytest
from reliability_files import build_files, one_line_error

CPU = ["--device", "cpu", "--no-progress"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return build_files(tmp_path_factory.mktemp("arguments"))


def _train(files, out, *extra):
    return ["train", "--data", str(files["world"]), "--classifier", str(files["clf"]), "--out", str(out),
            "--perceptual", "classifier", "--batch", "4", *CPU, *extra]


def _attfind(files, *extra):
    return ["attfind", "--run", str(files["run"]), "--split", "all", "--num-images", "4", "--batch", "40",
            "--out", str(files["root"] / "records.h5"), *CPU, *extra]


@pytest.mark.parametrize("argv, needles", [
    (["world", "--out", "W", "--n", "8", "--resolution", "48"], ["--resolution 48", "power of two"]),
    (["train-classifier", "--data", "D", "--out", "c.pt", "--image-size", "24"], ["--image-size", "power of two"]),
    (["world", "--out", "W", "--n", "0"], ["--n", "at least 1"]),
    (["world", "--out", "W", "--n", "-5"], ["--n", "at least 1"]),
    (["train-classifier", "--data", "D", "--out", "c.pt", "--epochs", "0"], ["--epochs", "at least 1"]),
    (["attfind", "--run", "R", "--out", "r.h5", "--num-images", "-1"], ["--num-images", "at least 1"]),
    (["attfind", "--run", "R", "--out", "r.h5", "--top-k", "0"], ["--top-k", "at least 1"]),
    (["attfind", "--run", "R", "--out", "r.h5", "--shift", "0"], ["--shift", "above 0"]),
])
def test_argument_types(argv, needles, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one_line_error(capsys, argv, *needles)
    assert not any(tmp_path.iterdir()), "nothing is written"


@pytest.mark.parametrize("extra, needles", [
    (["--resolution", "24"], ["--resolution", "24", "power of two"]),
    (["--kimg", "0"], ["--kimg", "above 0"]),
    (["--kimg", "-1"], ["--kimg", "above 0"]),
    (["--g-lr", "-0.1"], ["--g-lr", "above 0"]),
    (["--workers", "-1"], ["--workers", "0 or more"]),
    (["--keep", "-2"], ["--keep", "0 or more"]),
    (["--batch", "0"], ["--batch", "at least 1"]),
    (["--batch-gpu", "3"], ["--batch 4", "multiple of processes", "--batch-gpu (3)"]),
    (["--device", "cuda:99"], ["--device cuda:99"]),
    (["--device", "tpu"], ["--device tpu", "auto, cpu, cuda"]),
])
def test_train_arguments(files, extra, needles, capsys, tmp_path):
    out = tmp_path / "run"
    one_line_error(capsys, _train(files, out, *extra), *needles)
    assert not out.exists(), "a bad argument must not leave a run directory behind"


def test_batch_must_split_over_processes():
    from training_fakes import tiny_config

    from stylex.errors import StylexError
    from stylex.training.loop import split_batch

    assert split_batch(tiny_config(batch=8, batch_gpu=2), 2) == (2, 2)
    with pytest.raises(StylexError, match=r"--batch 6 must be a multiple of processes \(4\)"):
        split_batch(tiny_config(batch=6), 4)
    with pytest.raises(StylexError, match=r"--batch 2 must be a multiple of processes \(4\)"):
        split_batch(tiny_config(batch=2), 4)


def test_unknown_data_spec(files, capsys, tmp_path):
    argv = ["train", "--data", "imagenet:/x", "--classifier", str(files["clf"]), "--out", str(tmp_path / "r"),
            "--perceptual", "none", *CPU]
    one_line_error(capsys, argv, "--data imagenet:/x", "unknown kind 'imagenet'", "folder:DIR")
    argv = ["train-classifier", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "c.pt")]
    one_line_error(capsys, argv, "--data", "missing", "no such folder")


def test_top_k_larger_than_the_coordinates(files, capsys):
    one_line_error(capsys, _attfind(files, "--top-k", "100000"), "--top-k 100000", "use at most")
    assert not (files["root"] / "records.h5").exists(), "checked before the records are computed"


def test_attfind_device_that_does_not_exist(files, capsys):
    one_line_error(capsys, _attfind(files, "--device", "cuda:99"), "--device cuda:99")
