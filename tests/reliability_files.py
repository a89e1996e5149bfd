"""Tiny files shared by the reliability tests: a small world, classifier files and a run directory
with a random 32 px checkpoint (as `stylex train` writes it), plus a helper that runs the CLI and
returns its exit code and the error text."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import torch

from stylex.cli import main


def build_files(root: Path) -> dict:
    """world/ (40 images, 32 px, smile), smile.pt (2 classes), three.pt (3 classes), run/ (one checkpoint)."""
    from stylex.classifiers import build_classifier, load_classifier, save_classifier
    from stylex.config import NetworkConfig, TrainingConfig, to_dict
    from stylex.training.checkpoint import save_checkpoint
    from stylex.world import generate_world

    world = generate_world(root / "world", n=40, resolution=32, label="smile", progress=False)
    torch.manual_seed(0)
    for name, classes in (("smile.pt", ["frown", "smile"]), ("three.pt", ["a", "b", "c"])):
        save_classifier(root / name, build_classifier("small-cnn", len(classes), width=4), arch="small-cnn",
                        arch_kwargs={"width": 4}, class_names=classes, input_size=32, normalization=None)
    net = NetworkConfig(resolution=32, z_dim=16, w_dim=16, mapping_layers=1, g_channel_base=128, g_channel_max=8,
                        d_channel_base=128, d_channel_max=8)
    config = TrainingConfig(network=net, data=str(world), classifier=str(root / "smile.pt"),
                            classifier_fingerprint=load_classifier(root / "smile.pt").fingerprint)
    G, D, E = net.build_generator(), net.build_discriminator(), net.build_encoder()
    save_checkpoint(root / "run", {"config": to_dict(config), "G_ema": G.state_dict(), "E_ema": E.state_dict(),
                                   "D": D.state_dict(), "counters": {"nimg": 0}})
    return {"root": root, "world": world, "clf": root / "smile.pt", "clf3": root / "three.pt", "run": root / "run"}


def cli_error(capsys, argv: list[str]) -> tuple[int, str]:
    """Run `stylex argv` in-process; (exit code, stderr). argparse errors (SystemExit 2) count as code 2."""
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    return code, err


def one_line_error(capsys, argv: list[str], *needles: str) -> str:
    """Assert `stylex argv` exits 2 with an error line naming every needle and no traceback."""
    code, err = cli_error(capsys, argv)
    assert code == 2, f"exit {code}: {err}"
    assert "Traceback" not in err, err
    line = err.strip().replace("\r", "\n").splitlines()[-1].strip()  # after any progress bar's carriage return
    assert line.startswith(f"stylex {argv[0]}: error: "), err
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line


def run_until_killed(args: list[str]) -> None:
    """Run `python -c ...args` and SIGKILL it as soon as it prints a line `kill`; assert it was killed
    (not finished) so a test cannot pass without the interruption it is about."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", *args], stdout=subprocess.PIPE, text=True, env=env)
    try:
        for line in proc.stdout:
            if line.strip() == "kill":
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL, "the child must be killed before it finishes"
