"""The synthetic world: determinism, independent factors, the planted shortcut, the oracle."""

import json

import numpy as np
import pytest
import torch

from stylex import world
from stylex.errors import StylexError


def test_render_is_deterministic_and_in_range():
    a = world.render(world.sample_factors(16, seed=3), 32)
    b = world.render(world.sample_factors(16, seed=3), 32)
    c = world.render(world.sample_factors(16, seed=4), 32)
    assert a.shape == (16, 3, 32, 32) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert a.min() >= -1 and a.max() <= 1


@pytest.mark.parametrize("name", world.FACTOR_NAMES)
def test_each_factor_changes_the_picture(name):
    values = world.sample_factors(8, seed=1)
    other = dict(values)
    other[name] = (values[name] + 1) % world.factor(name).cardinality
    diff = (world.render(values, 32) - world.render(other, 32)).abs().amax(dim=(1, 2, 3))
    assert (diff > 0.3).all(), f"changing {name} must visibly change every image"


def test_factors_are_independent_and_uniform():
    values = world.sample_factors(6000, seed=0)
    for i, a in enumerate(world.FACTORS):
        freq = np.bincount(values[a.name], minlength=a.cardinality) / 6000
        assert np.abs(freq - 1 / a.cardinality).max() < 0.03
        for b in world.FACTORS[i + 1 :]:
            joint = np.zeros((a.cardinality, b.cardinality))
            np.add.at(joint, (values[a.name], values[b.name]), 1)
            joint /= joint.sum()
            product = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
            assert np.abs(joint - product).max() < 0.02, (a.name, b.name)


def test_generate_world_is_deterministic_and_readable(tmp_path):
    a = world.generate_world(tmp_path / "a", 40, 32, label="glasses", seed=7, progress=False)
    b = world.generate_world(tmp_path / "b", 40, 32, label="glasses", seed=7, progress=False)
    assert (a / "factors.csv").read_text() == (b / "factors.csv").read_text()
    assert (a / "images" / "000013.png").read_bytes() == (b / "images" / "000013.png").read_bytes()
    assert (a / "contact_sheet.png").is_file()
    meta, rows = world.read_world(a)
    assert meta["label"] == "glasses" and meta["class_names"] == ["no_glasses", "glasses"]
    assert sum(meta["split_counts"].values()) == 40 == len(rows)
    assert all(r["label"] == r["glasses"] for r in rows)
    with pytest.raises(StylexError, match="not empty"):
        world.generate_world(a, 10, 32, progress=False)


def test_shortcut_agrees_95_percent_in_train_and_50_in_test(tmp_path):
    out = world.generate_world(tmp_path / "w", 4000, 32, label="smile", shortcut="background:0.95",
                               seed=1, progress=False)
    meta, rows = world.read_world(out)
    assert meta["shortcut"] == {"factor": "background", "agreement": 0.95}
    for split, expected in (("train", 0.95), ("val", 0.95), ("test", 0.5)):
        agree = [r["background"] == r["label"] for r in rows if r["split"] == split]
        tolerance = 0.015 if split == "train" else 0.06
        assert abs(np.mean(agree) - expected) < tolerance, split
    # the shortcut leaves the other factors independent of the label
    train = [r for r in rows if r["split"] == "train"]
    assert abs(np.mean([r["glasses"] == r["label"] for r in train]) - 0.5) < 0.04


@pytest.mark.parametrize("text, message", [
    ("background", "FACTOR:P"), ("background:1.5", "between 0 and 1"), ("smile:0.9", "must differ"),
    ("hair_color:0.9", "binary"), ("nose:0.9", "unknown world factor"),
])
def test_bad_shortcuts_are_clear_errors(text, message):
    with pytest.raises(StylexError, match=message):
        world.parse_shortcut(text, "smile")


def test_world_cli(tmp_path, capsys):
    from stylex.cli import main

    assert main(["world", "--out", str(tmp_path / "w"), "--n", "20", "--label", "pose", "--seed", "2"]) == 0
    meta = json.loads((tmp_path / "w" / "world.json").read_text())
    assert meta["label"] == "pose" and meta["n"] == 20
    assert main(["world", "--out", str(tmp_path / "x"), "--n", "5", "--shortcut", "pose:0.9"]) == 2
    assert "binary" in capsys.readouterr().err


def test_packaged_oracle_is_accurate_on_clean_degraded_and_64px_images():
    from stylex.oracle import evaluate_oracle, load_oracle

    oracle = load_oracle(train_if_missing=False)
    for kwargs in ({}, {"degraded": True}, {"resolution": 64}):
        accuracy = evaluate_oracle(oracle, n=400, seed=99, **kwargs)
        assert set(accuracy) == set(world.FACTOR_NAMES)
        assert min(accuracy.values()) >= 0.95, (kwargs, accuracy)


def test_oracle_is_frozen_and_returns_every_factor():
    from stylex.oracle import load_oracle

    oracle = load_oracle(train_if_missing=False)
    oracle.train()
    assert not oracle.training and not oracle.net.training
    assert not any(p.requires_grad for p in oracle.parameters())
    pred = oracle.predict(world.render(world.sample_factors(3, 0), 32))
    assert {k: tuple(v.shape) for k, v in pred.items()} == {k: (3,) for k in world.FACTOR_NAMES}


def test_stale_oracle_weights_are_not_used(tmp_path, monkeypatch):
    from stylex import oracle as oracle_mod

    path = tmp_path / "old.pt"
    oracle_mod.save_oracle(oracle_mod.FactorOracle(oracle_mod.OracleNet()), path)
    monkeypatch.setattr(oracle_mod, "WORLD_VERSION", world.WORLD_VERSION + 1)
    with pytest.raises(StylexError, match="no world oracle"):
        oracle_mod.load_oracle(path, train_if_missing=False)
