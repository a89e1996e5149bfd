"""`stylex train` end to end on a tiny world: dry run, a short run, refusing to overwrite, resume,
and the instant LPIPS error."""

import json
import sys
from pathlib import Path

import pytest

from stylex.cli import main
from stylex.config import TRAINING_PRESETS, training_preset
from stylex.training import checkpoint as ckpt

SMALL = ["--batch", "4", "--no-progress", "--perceptual", "classifier", "--device", "cpu"]


@pytest.fixture(scope="module")
def files(tiny_inputs):
    root, world, classifier = tiny_inputs
    return root, ["--data", world, "--classifier", classifier]


def test_dry_run_prints_resolved_config(files, capsys):
    root, inputs = files
    assert main(["train", *inputs, "--out", str(root / "dry"), "--dry-run", "--g-lr", "0.001", *SMALL]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["g_lr"] == 0.001 and config["batch"] == 4 and config["network"]["c_dim"] == 2
    assert len(config["classifier_fingerprint"]) == 64 and config["class_names"] == ["frown", "smile"]
    assert not (root / "dry").exists()


def test_run_refuse_resume_force(files, capsys):
    root, inputs = files
    out = root / "run"
    assert main(["train", *inputs, "--out", str(out), "--kimg", "0.008", *SMALL]) == 0
    assert (out / "config.json").is_file() and (out / "stats.jsonl").is_file() and (out / "tensorboard").is_dir()
    assert [p.name for p in (out / "samples").iterdir()] == ["samples-000000000008.png"]
    assert ckpt.latest_checkpoint(out).name == "checkpoint-000000000008.pt"
    last = json.loads((out / "stats.jsonl").read_text().splitlines()[-1])
    assert 0 <= last["metrics/agreement"] <= 1 and "metrics/fd_classifier_recon" in last

    assert main(["train", *inputs, "--out", str(out), *SMALL]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["train", "--out", str(out), "--resume", "--g-lr", "0.1", *SMALL]) == 2
    assert "g_lr differ" in capsys.readouterr().err
    assert main(["train", "--out", str(out), "--resume", "--kimg", "0.016", *SMALL]) == 0
    assert ckpt.latest_checkpoint(out).name == "checkpoint-000000000016.pt"
    assert ckpt.load_trained(out).step == 4

    assert main(["train", *inputs, "--out", str(out), "--kimg", "0.004", "--force", *SMALL]) == 0
    assert [p.name for p in ckpt.list_checkpoints(out)] == ["checkpoint-000000000004.pt"]


def test_lpips_fails_before_anything_is_written(files, capsys, monkeypatch):
    root, inputs = files
    monkeypatch.setitem(sys.modules, "lpips", None)  # as on a machine without the package
    args = ["train", *inputs, "--out", str(root / "lpips"), "--batch", "4", "--device", "cpu"]
    assert main(args + ["--perceptual", "lpips"]) == 2
    err = capsys.readouterr().err
    assert "lpips" in err and "--perceptual classifier" in err and "--perceptual none" in err
    assert not (root / "lpips").exists()
    assert main(args + ["--dry-run"]) == 0  # the default (ssim) needs no package and no weights
    assert '"perceptual": "ssim"' in capsys.readouterr().out


def test_readme_preset_table_matches_the_presets():
    """The README's preset table (batch, kimg, lr, R1 gamma, EMA half-life) is what the presets set."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    rows = {line.split("|")[1].strip(" `"): [c.strip() for c in line.split("|")[3:8]]
            for line in readme.splitlines() if line.startswith("| `") and line.count("|") == 8}
    for name in TRAINING_PRESETS:
        cfg = training_preset(name)
        batch, kimg, lr, gamma, ema = rows[name]
        assert int(batch) == cfg.batch, name
        assert float(kimg.split()[0].replace(",", "")) == cfg.kimg, name
        assert float(lr) == cfg.g_lr == cfg.d_lr == cfg.e_lr, name
        assert float(gamma) == cfg.r1_gamma, name
        assert float(ema.split()[0]) == cfg.ema_kimg, name
