"""Reliability: bad model files and records. Every case ends in one line naming the file and what
to do (exit 2); a pickle that would run code is refused without running it."""

import os
import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from reliability_files import build_files, one_line_error

from stylex.cli import main

CPU = ["--device", "cpu", "--no-progress"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    f = build_files(tmp_path_factory.mktemp("models"))
    f["ckpt"] = next((f["run"] / "checkpoints").iterdir())
    return f


def _attfind(checkpoint, out, *extra):
    return ["attfind", "--checkpoint", str(checkpoint), "--split", "all", "--num-images", "3", "--batch", "40",
            "--out", str(out), *CPU, *extra]


def _eval(files, classifier):
    return ["eval-classifier", "--data", str(files["world"]), "--classifier", str(classifier), "--device", "cpu"]


class RunsCode:
    """Unpickling this creates the file `marker` (a stand-in for arbitrary code)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("kind", ["truncated", "random", "malicious"])
def test_unreadable_checkpoint_and_classifier_files(files, kind, capsys, tmp_path):
    bad, marker = tmp_path / f"{kind}.pt", tmp_path / "MARKER"
    if kind == "truncated":
        data = files["ckpt"].read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    elif kind == "random":
        bad.write_bytes(np.random.default_rng(0).bytes(4096))
    else:
        with open(bad, "wb") as f:
            pickle.dump({"format": "stylex-training-checkpoint", "G_ema": RunsCode(marker)}, f)
    expect = "refuses to unpickle" if kind != "truncated" else "truncated, corrupt"
    one_line_error(capsys, _attfind(bad, tmp_path / "r.h5"), f"checkpoint {bad}", expect)
    one_line_error(capsys, ["train", "--out", str(tmp_path / "run"), "--resume", str(bad), *CPU], str(bad), expect)
    one_line_error(capsys, _eval(files, bad), f"classifier file {bad}", expect)
    assert not marker.exists(), "unpickling must not run code"
    assert not (tmp_path / "r.h5").exists()


def test_malicious_pickle_in_a_torch_zip_is_refused(tmp_path):
    from stylex.errors import StylexError
    from stylex.runtime import safe_torch_load

    bad, marker = tmp_path / "evil.pt", tmp_path / "MARKER"
    torch.save({"weights": torch.zeros(2), "payload": RunsCode(marker)}, bad)  # the format torch.save writes
    marker.unlink(missing_ok=True)
    with pytest.raises(StylexError, match="refuses to unpickle"):
        safe_torch_load(bad, "classifier file")
    assert not marker.exists()


@pytest.mark.parametrize("change", [{"resolution": 64}, {"g_channel_max": 16}])
def test_checkpoint_of_another_resolution_or_architecture(files, change, capsys, tmp_path):
    data = torch.load(files["ckpt"], weights_only=True)
    data["config"]["network"].update(change)  # weights of one network, configuration of another
    bad = tmp_path / "mixed.pt"
    torch.save(data, bad)
    one_line_error(capsys, _attfind(bad, tmp_path / "r.h5"), f"checkpoint {bad}", "G_ema weights do not fit")


def test_resume_with_another_resolution_is_refused(files, capsys, tmp_path):
    argv = ["train", "--out", str(files["run"]), "--resume", "--resolution", "64", *CPU]
    one_line_error(capsys, argv, "--resume", "resolution differ", "another --out")


def test_classifier_class_count_mismatch(files, capsys, tmp_path):
    needles = (str(files["clf3"]), "has 3 classes but the data has 2")
    one_line_error(capsys, _eval(files, files["clf3"]), *needles)
    argv = ["train", "--data", str(files["world"]), "--classifier", str(files["clf3"]), "--out",
            str(tmp_path / "run"), "--perceptual", "none", "--batch", "4", *CPU]
    one_line_error(capsys, argv, *needles)
    assert not (tmp_path / "run").exists()
    one_line_error(capsys, _attfind(files["ckpt"], tmp_path / "r.h5", "--classifier", str(files["clf3"])), *needles)
    # Data with 3 classes fits the classifier, but not the generator (conditioned on 2).
    three = tmp_path / "three"
    for name in ("a", "b", "c"):
        (three / name).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (32, 32), (40 * i, 90, 200)).save(three / name / f"{i}.png")
    argv = _attfind(files["ckpt"], tmp_path / "r.h5", "--classifier", str(files["clf3"]), "--data", str(three))
    one_line_error(capsys, argv, str(files["clf3"]), "is conditioned on 2")
    assert not (tmp_path / "r.h5").exists()


def test_records_of_another_checkpoint(files, capsys, tmp_path):
    from stylex.training.checkpoint import save_checkpoint

    records = tmp_path / "records.h5"
    assert main(_attfind(files["ckpt"], records)) == 0
    data = torch.load(files["ckpt"], weights_only=True)
    data["G_ema"] = {k: v + 0.5 for k, v in data["G_ema"].items()}
    other = save_checkpoint(tmp_path / "other", data)
    explain = ["explain", "--records", str(records), "--checkpoint", str(other), "--out", str(tmp_path / "fig"), *CPU]
    one_line_error(capsys, explain, str(other), f"is not the one {records} was made with", "sha256")
    one_line_error(capsys, _attfind(other, records), f"records file {records}", "meta: checkpoint",
                   "--overwrite")
    one_line_error(capsys, ["attfind", "select", "--records", str(files["clf"])], f"records file {files['clf']}")
    assert os.path.getsize(records) > 0


def test_corrupt_records_file(files, capsys, tmp_path):
    bad = tmp_path / "records.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    one_line_error(capsys, ["attfind", "select", "--records", str(bad)], f"records file {bad}", "delete it")
    one_line_error(capsys, _attfind(files["ckpt"], bad), str(bad), "--overwrite")


def test_another_classifier_with_the_same_classes(files, capsys, tmp_path):
    from stylex.classifiers import build_classifier, save_classifier
    from stylex.training.checkpoint import save_checkpoint

    torch.manual_seed(1)
    other = tmp_path / "other.pt"
    save_classifier(other, build_classifier("small-cnn", 2, width=4), arch="small-cnn", arch_kwargs={"width": 4},
                    class_names=["frown", "smile"], input_size=32, normalization=None)
    one_line_error(capsys, _attfind(files["ckpt"], tmp_path / "r.h5", "--classifier", str(other)),
                   f"classifier {other} is not the one", "weights differ")
    data = torch.load(files["ckpt"], weights_only=True)
    data["config"]["perceptual"] = "classifier"  # offline (the fixture's default, lpips, may be missing)
    save_checkpoint(tmp_path / "run", data)
    resume = ["train", "--out", str(tmp_path / "run"), "--resume", "--classifier", str(other), *CPU]
    one_line_error(capsys, resume, f"--classifier {other} is not the classifier this run was trained with")


def test_resume_from_a_checkpoint_that_does_not_fit_its_configuration(capsys, tmp_path):
    from training_fakes import RandomImages, tiny_classifier, tiny_config

    from stylex.classifiers import load_classifier, save_classifier
    from stylex.training import checkpoint as ckpt
    from stylex.training.loop import Trainer
    from stylex.world import generate_world

    world = generate_world(tmp_path / "world", n=8, resolution=32, label="smile", progress=False)
    clf = tmp_path / "clf.pt"
    save_classifier(clf, tiny_classifier().net, arch="small-cnn", arch_kwargs={"width": 4},
                    class_names=["frown", "smile"], input_size=16, normalization=None)
    cfg = tiny_config(kimg=0.004, data=str(world), classifier=str(clf))
    trainer = Trainer(cfg, RandomImages(), tiny_classifier(), tmp_path / "run", progress=False)
    trainer.train()
    path = ckpt.latest_checkpoint(tmp_path / "run")
    data = torch.load(path, weights_only=True)
    data["D"] = {k: v[:1] for k, v in data["D"].items()}  # weights of another D shape
    data["config"]["classifier_fingerprint"] = load_classifier(clf).fingerprint
    torch.save(data, path)
    one_line_error(capsys, ["train", "--out", str(tmp_path / "run"), "--resume", "--kimg", "0.008", *CPU],
                   f"--resume: checkpoint {path} does not fit")
