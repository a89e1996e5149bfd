"""Class names by one rule, balanced sample grids, one TorchScript note of our own, and records
that find their checkpoint and classifier relative to themselves (the shipped model included)."""

import json
import shutil
import warnings
from pathlib import Path

import pytest
import torch

from stylex import classifiers
from stylex.classifiers import build_classifier, class_names_for, load_classifier, save_classifier

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "world-smile"


def _net():
    torch.manual_seed(0)
    return build_classifier("small-cnn", 2, width=4).eval()


def test_class_names_classifier_then_data_then_indices(tmp_path):
    torch.export.save(torch.export.export(_net(), (torch.zeros(2, 3, 16, 16),),
                                          dynamic_shapes=({0: torch.export.Dim("batch")},)), tmp_path / "bare.pt2")
    bare = load_classifier(tmp_path / "bare.pt2")
    assert bare.class_names == ["0", "1"] and not bare.class_names_given
    assert class_names_for(bare, ["cat", "dog"]) == ["cat", "dog"]  # no names of its own: the data's
    assert class_names_for(bare, None) == ["0", "1"]  # neither: indices
    assert class_names_for(bare, ["a", "b", "c"]) == ["0", "1"]  # names that do not fit are not used
    shutil.copy(tmp_path / "bare.pt2", tmp_path / "named.pt2")
    (tmp_path / "named.json").write_text(json.dumps({"class_names": ["young", "old"]}))
    named = load_classifier(tmp_path / "named.pt2")
    assert named.class_names_given and class_names_for(named, ["cat", "dog"]) == ["young", "old"]
    save_classifier(tmp_path / "own.pt", _net(), arch="small-cnn", arch_kwargs={"width": 4},
                    class_names=["frown", "smile"], input_size=16, normalization=None)
    own = load_classifier(tmp_path / "own.pt")
    assert class_names_for(own, ["0", "1"]) == ["frown", "smile"]
    assert class_names_for(None, None, num_classes=3) == ["0", "1", "2"]


def test_sample_grid_takes_every_class_in_turn():
    from stylex.training.samples import balanced_indices

    labels = [0] * 10 + [1] * 6 + [2] * 1  # sorted by class, as a folder data set is
    assert balanced_indices(labels, 8) == [0, 10, 16, 1, 11, 2, 12, 3]
    assert balanced_indices([1, 1, 0], 5) == [2, 0, 1]
    assert balanced_indices([], 4) == []


def test_trainer_grid_images_are_balanced():
    from training_fakes import RandomImages

    from stylex.training.loop import Trainer

    data = RandomImages(32)
    order = torch.argsort(data.labels, stable=True)  # sort by class like a folder per class
    data.images, data.labels = data.images[order], data.labels[order]
    trainer = Trainer.__new__(Trainer)  # only the grid choice is exercised
    trainer.heldout, trainer.dataset = data, data
    images = trainer._grid_images(8)
    labels = [int(data.labels[(data.images == x).flatten(1).all(1)].item()) for x in images]
    assert labels == [0, 1] * 4


def test_torchscript_loads_quietly_with_one_note_of_our_own(tmp_path, capsys, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(_net()), str(tmp_path / "clf.pt"))
    monkeypatch.setattr(classifiers, "_TORCHSCRIPT_NOTED", set(), raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):  # commands load their classifier more than once
            assert load_classifier(tmp_path / "clf.pt", resolution=16).kind == "torchscript"
    assert not [w for w in caught if "torch.jit" in str(w.message)]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "TorchScript" in err and "deprecated" in err
    assert "torch.export.save" in err and ".pt2" in err


def test_context_prefers_the_path_relative_to_the_records(tmp_path):
    from stylex.attfind.context import _existing, recorded_paths

    (tmp_path / "run" / "attfind").mkdir(parents=True)
    (tmp_path / "old").mkdir()
    for folder in ("run", "old"):
        (tmp_path / folder / "clf.pt").write_bytes(b"x")
    records = tmp_path / "run" / "attfind" / "records.h5"
    meta = recorded_paths("classifier", tmp_path / "run" / "clf.pt", records)
    assert meta == {"classifier": str((tmp_path / "run" / "clf.pt").resolve()), "classifier_relative": "../clf.pt"}
    meta["classifier"] = str(tmp_path / "old" / "clf.pt")  # the absolute path exists too: relative first
    assert _existing(meta, None, "classifier", "--classifier", records) == records.parent / "../clf.pt"
    (tmp_path / "run" / "clf.pt").unlink()  # then the absolute fallback
    assert _existing(meta, None, "classifier", "--classifier", records) == tmp_path / "old" / "clf.pt"
    (tmp_path / "old" / "clf.pt").unlink()
    from stylex.errors import StylexError

    with pytest.raises(StylexError, match=r"looked at .*clf.pt and .*clf.pt\); pass --classifier"):
        _existing(meta, None, "classifier", "--classifier", records)


@pytest.mark.skipif(not (SHIPPED / "stylex.pt").is_file(), reason="the shipped model is not in this checkout")
def test_shipped_model_explains_with_the_records_alone(tmp_path, monkeypatch):
    """`stylex explain --records models/world-smile/attfind/records.h5 --out X` (README), here on a
    copy of the folder, so the paths the records were made with cannot be what finds the files."""
    from stylex.attfind import load_context
    from stylex.cli import main

    copy = tmp_path / "models" / "world-smile"
    shutil.copytree(SHIPPED, copy)
    monkeypatch.chdir(tmp_path)
    records = "models/world-smile/attfind/records.h5"
    ctx = load_context(records)
    assert ctx.checkpoint.resolve() == (copy / "stylex.pt").resolve()
    assert Path(ctx.classifier.path).resolve() == (copy / "classifier.pt").resolve()
    assert ctx.records.class_names == ["frown", "smile"]
    assert main(["explain", "--records", records, "--out", "X", "--top-k", "1", "--examples", "1",
                 "--images", "0", "--gif-frames", "2", "--no-progress"]) == 0
    assert (tmp_path / "X" / "index.html").is_file()
