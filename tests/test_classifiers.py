"""Classifier files, the frozen wrapper, foreign (TorchScript / ExportedProgram) models, training."""

import json

import pytest
import torch

from stylex import classifiers as C
from stylex.errors import StylexError


def small_net(k=2):
    torch.manual_seed(0)
    return C.build_classifier("small-cnn", k, width=8)


def save_small(path, k=2):
    net = small_net(k)
    C.save_classifier(path, net, arch="small-cnn", arch_kwargs={"width": 8},
                      class_names=[f"c{i}" for i in range(k)], input_size=32, normalization=None)
    return net


def test_file_round_trip_fingerprint_and_class_check(tmp_path):
    net = save_small(tmp_path / "clf.pt", k=3)
    ckpt = torch.load(tmp_path / "clf.pt", weights_only=True)
    assert ckpt["format"] == "stylex-classifier" and ckpt["class_names"] == ["c0", "c1", "c2"]
    clf = C.load_classifier(tmp_path / "clf.pt", num_classes=3)
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    assert torch.allclose(clf(x), net.eval()(x), atol=1e-6)
    assert clf.num_classes == 3 and clf.path == str(tmp_path / "clf.pt")
    assert len(clf.fingerprint) == 64 and clf.fingerprint == C.weights_fingerprint(net)
    save_small(tmp_path / "other.pt", k=3)
    torch.nn.init.zeros_(C.load_classifier(tmp_path / "other.pt").net.head.bias)  # loading never aliases
    assert C.load_classifier(tmp_path / "other.pt").fingerprint == clf.fingerprint
    with pytest.raises(StylexError, match=r"clf\.pt has 3 classes but the data has 2"):
        C.load_classifier(tmp_path / "clf.pt", num_classes=2)


def test_wrapper_is_frozen_in_eval_mode_and_passes_gradients(tmp_path):
    save_small(tmp_path / "clf.pt")
    clf = C.load_classifier(tmp_path / "clf.pt")
    parent = torch.nn.Sequential(clf)
    parent.train()
    assert not clf.training and not any(m.training for m in clf.modules())
    assert not any(p.requires_grad for p in clf.parameters())
    x = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_()
    clf(x)[:, 1].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert clf.features(x).shape == (2, 32)
    assert [m.shape[1:] for m in clf.feature_maps(x)] == [(8, 16, 16), (16, 8, 8), (32, 4, 4)]
    assert clf.predict(x.detach()).shape == (2,)


@pytest.mark.parametrize("arch, features", [("resnet18", 512), ("mobilenet_v2", 1280)])
def test_torchvision_backbones_resize_and_normalize(tmp_path, arch, features):
    net = C.build_classifier(arch, 2)
    C.save_classifier(tmp_path / "m.pt", net, arch=arch, class_names=["a", "b"], input_size=64,
                      normalization=C.default_normalization(arch))
    clf = C.load_classifier(tmp_path / "m.pt")
    x = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_()
    assert clf(x).shape == (2, 2) and clf.features(x).shape == (2, features)
    assert len(clf.feature_maps(x)) == 5
    clf(x).sum().backward()
    assert x.grad.abs().sum() > 0
    expected = net.eval()(C.Preprocess(64, C.IMAGENET_NORMALIZATION)(x.detach()))
    assert torch.allclose(clf(x.detach()), expected, atol=1e-5)
    assert C.default_input_size(arch, 32) == 224


def test_pretrained_offline_says_which_file_to_put_where(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(StylexError) as err:
        C.build_classifier("resnet18", 2, pretrained=True)
    message = str(err.value)
    assert "resnet18-f37072fd.pth" in message and str(tmp_path / "hub" / "checkpoints") in message
    assert "download https://" in message
    with pytest.raises(StylexError, match="no pretrained"):
        C.build_classifier("small-cnn", 2, pretrained=True)


class Plain(torch.nn.Module):
    """A user's own classifier: [-1, 1] images -> 3 logits."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def check_foreign(clf, model, kind):
    assert clf.kind == kind and clf.num_classes == 3 and not clf.has_features
    x = (torch.rand(5, 3, 16, 16) * 2 - 1).requires_grad_()
    logits = clf(x)
    assert torch.allclose(logits, model(x), atol=1e-5)
    logits[:, 0].sum().backward()
    assert x.grad.abs().sum() > 0, f"gradients must flow through a {kind} model"
    assert torch.equal(clf.features(x.detach()), clf(x.detach()))
    with pytest.raises(StylexError, match="feature maps"):
        clf.feature_maps(x)
    assert len(clf.fingerprint) == 64


def test_torchscript_classifier_and_sidecar(tmp_path):
    torch.manual_seed(0)
    model = Plain().eval()
    with pytest.warns(FutureWarning):
        torch.jit.save(torch.jit.script(model), tmp_path / "model.pt")
    clf = C.load_classifier(tmp_path / "model.pt", resolution=16)
    check_foreign(clf, model, "torchscript")
    assert clf.class_names == ["0", "1", "2"] and clf.input_size is None
    (tmp_path / "model.json").write_text(json.dumps(
        {"input_size": 8, "normalization": "imagenet", "class_names": ["a", "b", "c"]}))
    clf = C.load_classifier(tmp_path / "model.pt")
    assert clf.class_names == ["a", "b", "c"] and clf.input_size == 8
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    assert torch.allclose(clf(x), model(C.Preprocess(8, C.IMAGENET_NORMALIZATION)(x)), atol=1e-5)
    (tmp_path / "model.json").write_text(json.dumps({"class_names": ["a", "b"]}))
    with pytest.raises(StylexError, match="2 class names but the model returns 3"):
        C.load_classifier(tmp_path / "model.pt")
    with pytest.raises(StylexError, match="has 3 classes but the data has 2"):
        (tmp_path / "model.json").unlink() or C.load_classifier(tmp_path / "model.pt", num_classes=2)


def test_exported_program_classifier(tmp_path):
    torch.manual_seed(0)
    model = Plain().eval()
    x = torch.zeros(2, 3, 16, 16)
    program = torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, tmp_path / "model.pt2")
    clf = C.load_classifier(tmp_path / "model.pt2")
    assert clf.input_size == 16, "the example input size is used when no sidecar gives one"
    check_foreign(clf, model, "exported")
    clf.train()  # must not fail: exported models cannot switch modes
    torch.export.save(torch.export.export(model, (torch.zeros(1, 3, 16, 16),)), tmp_path / "static.pt2")
    with pytest.raises(StylexError, match="dynamic batch"):
        C.load_classifier(tmp_path / "static.pt2")


def test_unusable_files_are_clear_errors(tmp_path):
    torch.save(small_net().state_dict(), tmp_path / "bare.pt")
    with pytest.raises(StylexError, match="bare state dict"):
        C.load_classifier(tmp_path / "bare.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(StylexError, match="junk.pt could not be read"):
        C.load_classifier(tmp_path / "junk.pt")
    with pytest.raises(StylexError, match="does not exist"):
        C.load_classifier(tmp_path / "missing.pt")
    with pytest.raises(StylexError, match="unknown architecture"):
        C.build_classifier("vgg", 2)


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    from stylex.world import generate_world

    root = tmp_path_factory.mktemp("worlds")
    clean = generate_world(root / "clean", 1500, 32, label="smile", seed=0, progress=False)
    shortcut = generate_world(root / "shortcut", 1500, 32, label="smile", shortcut="background:0.99",
                              seed=1, progress=False)
    return clean, shortcut


def test_small_cnn_learns_smile(worlds, tmp_path):
    report = C.train_classifier(str(worlds[0]), 32, tmp_path / "smile.pt", epochs=4, width=16,
                                progress=False, log=lambda s: None)
    assert report["val_accuracy"] >= 0.95, report["history"]
    assert report["test"]["accuracy"] >= 0.9
    saved = json.loads((tmp_path / "smile.report.json").read_text())
    assert saved["fingerprint"] == C.load_classifier(tmp_path / "smile.pt").fingerprint
    assert len(saved["test"]["confusion"]) == 2 and saved["split_counts"]["train"] == 1200
    lines = (tmp_path / "smile.splits.csv").read_text().splitlines()
    assert lines[0] == "filename,split" and len(lines) == 1501


def test_shortcut_classifier_fails_on_the_shortcut_broken_split(worlds, tmp_path):
    report = C.train_classifier(str(worlds[1]), 32, tmp_path / "sc.pt", epochs=2, width=16,
                                progress=False, log=lambda s: None)
    broken = report["test"]
    assert report["val_accuracy"] >= 0.9
    assert broken["accuracy"] <= report["val_accuracy"] - 0.2, broken
    assert broken["shortcut"]["accuracy_when_disagrees"] < 0.5 < broken["shortcut"]["accuracy_when_agrees"]


def test_train_and_eval_classifier_cli(worlds, tmp_path, capsys):
    from stylex.cli import main

    out = tmp_path / "clf.pt"
    assert main(["train-classifier", "--data", str(worlds[1]), "--out", str(out), "--epochs", "1",
                 "--width", "8", "--device", "cpu"]) == 0
    assert "confusion" in capsys.readouterr().out
    assert main(["eval-classifier", "--classifier", str(out), "--data", str(worlds[1]), "--split", "test",
                 "--json", str(tmp_path / "eval.json")]) == 0
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["n"] == 150 and "shortcut" in report and report["resolution"] == 32
    assert main(["eval-classifier", "--classifier", str(out), "--data", f"world:{worlds[1]}:hair_color"]) == 2
    assert "has 2 classes but the data has 4" in capsys.readouterr().err
