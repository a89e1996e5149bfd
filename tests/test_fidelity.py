"""`evaluate.fidelity`: the factor oracle's reading of reconstructions, on stand-ins whose answer is
known by hand, and `stylex evaluate fidelity` on files."""

import json

import numpy as np
import pytest
import torch

from stylex import evaluate
from stylex.oracle import load_oracle
from stylex.world import render, sample_factors


class ImageCodec(torch.nn.Module):
    """G and E in one: E(x) is x flattened, G draws `transform(w)` as the image; noise samples are
    a fixed world face whatever z is."""

    def __init__(self, transform, sample_image):
        super().__init__()
        self.transform, self.sample_image = transform, sample_image
        self.z_dim = 4
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # gives the module a device

    def forward(self, x):  # the encoder
        return x.flatten(1)

    def mapping(self, z):
        return self.sample_image.flatten(1).expand(len(z), -1)

    def styles(self, w, c):
        return w

    def synthesis(self, w):
        return self.transform(w.view(-1, 3, 32, 32))


def smile_classifier(images):
    """A stand-in classifier: logits from the lower half's brightness (its decision is kept by any
    transform below that keeps the lower half)."""
    v = images[:, :, 16:].mean(dim=[1, 2, 3])
    return torch.stack([v, -v], dim=1)


@pytest.fixture(scope="module")
def world_faces():
    values = sample_factors(200, seed=3)
    return render(values, 32), values


def test_identity_reconstruction_keeps_every_factor(world_faces):
    images, _ = world_faces
    codec = ImageCodec(lambda x: x, images[:1])
    out = evaluate.fidelity(codec, codec, smile_classifier, images, load_oracle(), samples=8)
    assert out["num_images"] == 200 and out["agreement"] == 1.0 and out["l1"] < 1e-6
    assert all(v == 1.0 for v in out["factor_fidelity"].values())
    assert out["min_factor_fidelity"] == 1.0
    assert set(out["sample_confidence"]) == set(out["factor_fidelity"]) and out["num_samples"] == 8


def test_mirrored_reconstruction_loses_only_the_pose(world_faces):
    """A left-right mirror turns left into right: pose survives only on front faces (a third)."""
    images, values = world_faces
    codec = ImageCodec(lambda x: x.flip(3), images[:1])
    out = evaluate.fidelity(codec, codec, smile_classifier, images, load_oracle(), samples=0)
    front = float(np.mean(values["pose"] == 1))
    assert abs(out["factor_fidelity"]["pose"] - front) < 0.05
    assert out["factor_fidelity"]["pose"] < 0.5
    for name in ("smile", "glasses", "hair_color", "skin_tone", "background"):
        assert out["factor_fidelity"][name] > 0.95, name
    assert out["agreement"] == 1.0  # the classifier's decision survives the invisible-to-it change
    assert "sample_confidence" not in out


def test_a_constant_reconstruction_keeps_a_factor_only_where_it_matches(world_faces):
    """Every reconstruction is the first face: a factor survives on the images that share its value."""
    images, values = world_faces
    codec = ImageCodec(lambda x: images[:1].expand(len(x), -1, -1, -1), images[:1])
    out = evaluate.fidelity(codec, codec, smile_classifier, images, load_oracle(), samples=0)
    for name in ("smile", "glasses", "background"):
        expected = float(np.mean(values[name] == values[name][0]))
        assert abs(out["factor_fidelity"][name] - expected) < 0.05, name


def test_evaluate_fidelity_command(tiny_inputs, tiny_run, tmp_path, capsys):
    from pathlib import Path

    from stylex.cli import main

    _, world, clf = tiny_inputs
    args = ["evaluate", "fidelity", "--checkpoint", str(tiny_run), "--classifier", clf,
            "--data", world, "--num-images", "3", "--samples", "4", "--device", "cpu", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["what"] == "fidelity" and out["num_images"] == 3 and out["num_samples"] == 4  # test split: 4 faces
    assert set(out["factor_fidelity"]) == {"smile", "glasses", "eye_size", "hair_color", "skin_tone", "background",
                                           "pose"}
    # A world is required, and so are the three inputs.
    folder = tmp_path / "folder"
    for name in ("a", "b"):
        (folder / name).mkdir(parents=True)
        for f in list((Path(world) / "images").iterdir())[:3]:
            (folder / name / f.name).write_bytes(f.read_bytes())
    assert main(args[:6] + ["--data", str(folder), "--device", "cpu"]) == 2
    assert "synthetic world" in capsys.readouterr().err
    assert main(["evaluate", "fidelity", "--classifier", clf, "--data", world]) == 2
    assert "--checkpoint" in capsys.readouterr().err
