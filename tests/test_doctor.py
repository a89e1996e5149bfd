"""`stylex doctor`: what this machine can do, and for each missing piece what it enables and how
to get it."""

import json
import subprocess
import sys

from stylex.cli import main


def report(capsys, *args):
    assert main(["doctor", "--json", *args]) == 0
    found = json.loads(capsys.readouterr().out)
    return found, {item["name"]: item for item in found["items"]}


def test_doctor_reports_torch_cuda_packages_and_caches(capsys, tmp_path, monkeypatch):
    import torch

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("STYLEX_CACHE", str(tmp_path / "cache"))
    found, items = report(capsys)
    assert {"torch", "cuda", "lpips", "fid", "tensorboard", "jupyter", "torch hub", "oracle"} <= set(items)
    assert torch.__version__ in items["torch"]["detail"]
    assert items["cuda"]["ok"] == torch.cuda.is_available()
    assert str(tmp_path / "torch" / "hub") in items["torch hub"]["detail"]
    assert str(tmp_path / "cache") in items["oracle"]["detail"]
    for item in items.values():
        if not item["ok"]:
            assert item["enables"] and item["get"], item


def test_doctor_names_missing_lpips_and_its_weights(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setitem(sys.modules, "lpips", None)  # as on a machine without the package
    _, items = report(capsys)
    assert not items["lpips"]["ok"] and "pip install" in items["lpips"]["get"]
    assert "--perceptual lpips" in items["lpips"]["enables"]

    fake = tmp_path / "site" / "lpips"  # the package without its weights
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    monkeypatch.delitem(sys.modules, "lpips")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    _, items = report(capsys)
    assert not items["lpips"]["ok"] and "alex.pth" in items["lpips"]["detail"]
    assert "alexnet-owt-7be5be79.pth" in items["lpips"]["detail"]
    (fake / "weights" / "v0.1").mkdir(parents=True)
    (fake / "weights" / "v0.1" / "alex.pth").write_bytes(b"")
    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "torch" / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth").write_bytes(b"")
    _, items = report(capsys)
    assert items["lpips"]["ok"], items["lpips"]


def test_doctor_text_gives_one_line_per_missing_piece(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "lpips", None)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("stylex ") and "torch" in out
    lines = out.splitlines()
    missing = [i for i, line in enumerate(lines) if line.startswith("  missing")]
    assert missing  # lpips at least
    for i in missing:
        assert "enables:" in lines[i + 1] and "get it:" in lines[i + 1]


def test_doctor_help_does_not_import_torch():
    code = ("import sys; from stylex.cli import main\ntry:\n    main(['doctor', '--help'])\nexcept SystemExit:\n"
            "    pass\nprint('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Check the installation" in out.stdout and out.stdout.strip().endswith("False")
