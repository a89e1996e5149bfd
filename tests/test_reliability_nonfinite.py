"""Reliability: non-finite values. Learning rates that blow training up are caught by the
non-finite guard and reported with what to do; a user classifier giving NaN is named, with the
images, before any long work. (The guard's skipping and its stop at the last good checkpoint are
tested in test_training_loop.py::test_non_finite_steps_are_skipped_and_stop_the_run.)"""

import warnings

import pytest
import torch
from reliability_files import build_files, one_line_error

from stylex.training import checkpoint as ckpt

CPU = ["--device", "cpu", "--no-progress"]


class NaNOnBrightRed(torch.nn.Module):
    """A user classifier (TorchScript) whose logits are NaN for images with a bright red channel."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)

    def forward(self, x):
        out = self.lin(x.mean(dim=[2, 3]))
        bad = x[:, 0].mean(dim=[1, 2]) > -0.2
        return torch.where(bad[:, None], torch.full_like(out, float("nan")), out)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    f = build_files(tmp_path_factory.mktemp("nonfinite"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated, but users still have such files
        torch.jit.save(torch.jit.script(NaNOnBrightRed()), f["root"] / "nan.pt")
    f["nan"] = f["root"] / "nan.pt"
    return f


def test_learning_rate_that_blows_up_is_caught(files, capsys, tmp_path):
    out = tmp_path / "run"
    argv = ["train", "--data", str(files["world"]), "--classifier", str(files["clf"]), "--out", str(out),
            "--perceptual", "classifier", "--batch", "4", "--resolution", "16", "--kimg", "0.2", "--snap", "0.008",
            "--max-bad-steps", "2", *CPU]
    for flag in ("--g-lr", "--d-lr", "--e-lr"):
        argv += [flag, "1e30"]
    one_line_error(capsys, argv, "non-finite losses or gradients", "--max-bad-steps 2", "Lower the learning rates")
    for path in ckpt.list_checkpoints(out):  # whatever was saved is complete and finite
        model = ckpt.load_trained(path)
        assert all(torch.isfinite(v).all() for v in model.G.state_dict().values())


def test_nan_classifier_is_named_with_the_images(files, capsys, tmp_path):
    nan = str(files["nan"])
    evaluate = ["eval-classifier", "--data", str(files["world"]), "--classifier", nan, "--device", "cpu"]
    line = one_line_error(capsys, evaluate, f"classifier {nan} gives NaN or infinite outputs", ".png")
    assert str(files["world"]) in line, "the images are named"
    out = tmp_path / "run"
    train = ["train", "--data", str(files["world"]), "--classifier", nan, "--out", str(out), "--perceptual", "none",
             "--batch", "4", "--resolution", "16", *CPU]
    one_line_error(capsys, train, f"classifier {nan} gives NaN", "remove those images")
    assert not (out / "checkpoints").exists()


def test_attfind_names_a_nan_classifier(files, capsys, tmp_path):
    from stylex.classifiers import load_classifier

    data = torch.load(ckpt.latest_checkpoint(files["run"]), weights_only=True)
    fingerprint = load_classifier(files["nan"]).fingerprint
    data["config"].update(classifier=str(files["nan"]), classifier_fingerprint=fingerprint)
    run = tmp_path / "run"
    ckpt.save_checkpoint(run, data)
    records = tmp_path / "records.h5"
    argv = ["attfind", "--run", str(run), "--split", "all", "--num-images", "4", "--out", str(records), *CPU]
    one_line_error(capsys, argv, f"classifier {files['nan']} gives NaN", "of 4 images")
    assert not records.exists()
