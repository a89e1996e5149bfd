"""The README's "Explain your own classifier" path, run literally: its bash blocks are read from
README.md and run as written (in a fresh folder, with a folder of class sub-folders as DATA and a
TorchScript `clf.pt` or an ExportedProgram `clf.pt2` that does not name its classes), adding only
the size-reducing flags the README lists. Then the whole folder is moved and explained again."""

import json
import re
import shlex
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from stylex import classifiers
from stylex.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
CLASSES = {"apples": (200, 40, 40), "pears": (60, 200, 60)}  # folder name -> mean colour
# Flags the test adds to make each README command small (the README says so, word for word).
EXTRA = {
    "train": ["--resolution", "16", "--kimg", "0.008", "--batch", "4", "--metrics-images", "8"],
    "attfind": ["--num-images", "4"],
    "explain": ["--top-k", "2", "--examples", "1", "--images", "1", "--gif-frames", "2"],
}


def readme_section() -> str:
    text = README.read_text()
    return text.split("## Explain your own classifier\n", 1)[1].split("\n## ", 1)[0]


def readme_commands() -> list[list[str]]:
    blocks = re.findall(r"```bash\n(.*?)```", readme_section(), re.S)
    return [shlex.split(line, comments=True) for block in blocks for line in block.splitlines() if line.strip()]


def make_folder_data(root: Path, per_class: int = 40, size: int = 16) -> Path:
    """root/<class>/img_NNN.png: tiny noisy images, one colour per class."""
    rng = np.random.default_rng(0)
    for name, colour in CLASSES.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(np.array(colour) + rng.normal(0, 30, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"img_{i:03d}.png")
    return root


def make_foreign_classifier(path: Path, kind: str, size: int = 16) -> Path:
    """An untrained small CNN saved as TorchScript or as an ExportedProgram, with no class names."""
    torch.manual_seed(0)
    net = classifiers.build_classifier("small-cnn", 2, width=4).eval()
    if kind == "torchscript":
        torch.jit.save(torch.jit.script(net), str(path))
    else:
        x = torch.zeros(2, 3, size, size)
        torch.export.save(torch.export.export(net, (x,), dynamic_shapes=({0: torch.export.Dim("batch")},)), path)
    return path


def test_readme_lists_the_flags_this_test_adds():
    section = readme_section()
    for flags in EXTRA.values():
        assert " ".join(flags) in section
    commands = readme_commands()
    assert [c[:2] for c in commands] == [["stylex", "doctor"], ["stylex", "train"], ["stylex", "attfind"],
                                         ["stylex", "explain"], ["mv", "runs/mine"], ["stylex", "explain"]]


@pytest.mark.parametrize("kind,name", [("torchscript", "clf.pt"), ("exported", "clf.pt2")])
def test_readme_path_with_a_foreign_classifier(kind, name, tmp_path, monkeypatch, capsys,
                                               recwarn):
    from stylex.attfind import load_context

    project = tmp_path / "project"
    project.mkdir()
    make_folder_data(project / "data")
    make_foreign_classifier(project / name, kind)
    monkeypatch.chdir(project)
    monkeypatch.setattr(classifiers, "_TORCHSCRIPT_NOTED", set(), raising=False)
    outputs = []
    for command in readme_commands():
        if command[0] == "mv":
            shutil.move(command[1], command[2])
            continue
        assert command[0] == "stylex"
        args = ["data" if a == "DATA" else name if a == "clf.pt" else a for a in command[1:]]
        args += EXTRA.get(args[0], [])
        assert main(args) == 0, args
        captured = capsys.readouterr()
        outputs.append((args[0], captured.out, captured.err))

    names = list(CLASSES)  # the folder names: the classifier names none
    run = project / "runs" / "moved"
    assert not (project / "runs" / "mine").exists()
    assert json.loads((run / "config.json").read_text())["class_names"] == names
    attributes = json.loads((run / "attfind" / "attributes.json").read_text())
    assert attributes["class_names"] == names
    assert {a["toward_class_name"] for a in attributes["attributes"]} <= set(names)
    attfind_out = next(out for cmd, out, _ in outputs if cmd == "attfind")
    assert any(f"-> {n}" in attfind_out for n in names)
    html = (run / "explain" / "index.html").read_text()
    assert any(n in html for n in names)
    assert list((run / "samples").glob("samples-*.png"))

    # The records name the checkpoint and classifier relative to themselves (and absolutely).
    with h5py.File(run / "attfind" / "records.h5", "r") as f:
        meta = json.loads(f.attrs["meta"])
    assert meta["checkpoint_relative"].startswith("../checkpoints/checkpoint-")
    assert meta["classifier_relative"] == f"../../../{name}"
    assert not Path(meta["checkpoint"]).exists()  # the run moved: only the relative path finds it

    # TorchScript: torch's deprecation warnings are hidden and ours is said once.
    errors = "".join(err for _, _, err in outputs)
    assert "torch.jit.load` is deprecated" not in errors
    assert not [w for w in recwarn if "torch.jit.load" in str(w.message)]
    assert errors.count("is TorchScript, which PyTorch has deprecated") == (kind == "torchscript")
    if kind == "torchscript":
        assert ".pt2" in errors and "torch.export" in errors

    # Move the whole folder (data, classifier, run): every absolute path is stale now.
    moved = tmp_path / "elsewhere"
    project.rename(moved)
    monkeypatch.chdir(moved)
    assert not Path(meta["classifier"]).exists()
    records = "runs/moved/attfind/records.h5"
    assert main(["explain", "--records", records, "--out", "runs/moved/explain2", *EXTRA["explain"]]) == 0
    assert (moved / "runs" / "moved" / "explain2" / "index.html").is_file()
    ctx = load_context(records)
    assert Path(ctx.classifier.path).resolve() == (moved / name).resolve()
    assert ctx.checkpoint.resolve().parent == (moved / "runs" / "moved" / "checkpoints").resolve()
    assert ctx.records.class_names == ctx.selection.class_names == names


def test_csv_data_spec_gives_its_label_names(tmp_path, monkeypatch, capsys):
    """A CSV data spec: its label strings become the class names (dry run: the resolved config)."""
    make_foreign_classifier(tmp_path / "clf.pt2", "exported")
    rows = []
    for name, colour in CLASSES.items():
        for i in range(20):
            file = tmp_path / "flat" / f"{name[0]}{i:02d}.png"
            file.parent.mkdir(exist_ok=True)
            Image.new("RGB", (16, 16), colour).save(file)
            rows.append(f"{file.name},{name.upper()}")
    (tmp_path / "flat" / "labels.csv").write_text("filename,label\n" + "\n".join(rows) + "\n")
    monkeypatch.chdir(tmp_path)
    args = ["train", "--data", "csv:flat:labels.csv", "--classifier", "clf.pt2", "--out", "runs/csv", "--dry-run",
            "--resolution", "16"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["class_names"] == ["APPLES", "PEARS"]
