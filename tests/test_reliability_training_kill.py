"""Reliability: training killed with SIGKILL (after a checkpoint, during a checkpoint write, and at
seeded step offsets) and then resumed continues from the last complete checkpoint, leaves nothing
unreadable behind, and ends exactly where an uninterrupted run ends. (Exact resume itself is
test_training_loop.py::test_resume_is_exact; an exception during a write is
test_training_checkpoint.py::test_crash_during_write_keeps_previous_checkpoint.)"""

import random
from pathlib import Path

import pytest
import torch
from reliability_files import run_until_killed
from training_fakes import RandomImages, tiny_classifier, tiny_config

from stylex.training import checkpoint as ckpt
from stylex.training.loop import Trainer

STEPS = 6  # batch 4: one checkpoint per step (--snap 0.004)
KIMG, SNAP = STEPS * 4 / 1000, 0.004

# The child trains and announces the moment the parent kills it at: `saved` (after checkpoint AT
# is complete), `write` (half of checkpoint AT is on disk in its temporary file) or `step` (after
# step AT, in the middle of the run).
CHILD = """
import io, os, sys, time, torch
torch.set_num_threads(1)
sys.path.insert(0, {tests!r})
from training_fakes import RandomImages, tiny_classifier, tiny_config
from stylex.training import checkpoint as ckpt
from stylex.training.loop import Trainer
mode, at, run = sys.argv[1], int(sys.argv[2]), sys.argv[3]
trainer = Trainer(tiny_config(kimg={kimg}, snap_kimg={snap}), RandomImages(), tiny_classifier(), run, progress=False)
count = 0
real_save, real_checkpoint, real_step = torch.save, ckpt.save_checkpoint, trainer.iteration

def save(obj, path):
    global count
    count += 1
    if mode == "write" and count == at:
        buffer = io.BytesIO()
        real_save(obj, buffer)
        with open(path, "wb") as f:
            f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            f.flush()
        print("kill", flush=True)
        time.sleep(600)
    return real_save(obj, path)

def checkpoint(*args, **kwargs):
    path = real_checkpoint(*args, **kwargs)
    if mode == "saved" and count == at:
        print("kill", flush=True)
    return path

def step():
    real_step()
    if mode == "step" and trainer.counters["iteration"] == at:
        print("kill", flush=True)

torch.save, ckpt.save_checkpoint, trainer.iteration = save, checkpoint, step
trainer.train()
print("finished", flush=True)
"""


def _trainer(run):
    return Trainer(tiny_config(kimg=KIMG, snap_kimg=SNAP), RandomImages(), tiny_classifier(), run, progress=False)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    trainer = _trainer(tmp_path_factory.mktemp("straight"))
    trainer.train()
    return trainer


def _kill_at(mode, at, run):
    script = CHILD.format(tests=str(Path(__file__).parent), kimg=KIMG, snap=SNAP)
    run_until_killed([script, mode, str(at), str(run)])


SEEDED_STEPS = random.Random(8).sample(range(1, STEPS), 1)  # a "random moment", the same in every run


@pytest.mark.parametrize("mode, at", [("saved", 2), ("write", 3)] + [("step", s) for s in SEEDED_STEPS])
def test_kill_9_then_resume_matches_the_uninterrupted_run(straight, mode, at, tmp_path):
    run = tmp_path / "run"
    _kill_at(mode, at, run)
    left = sorted(p.name for p in ckpt.checkpoint_dir(run).iterdir())
    complete = ckpt.list_checkpoints(run)
    if mode == "saved":
        assert complete[-1].name == f"checkpoint-{4 * at:012d}.pt"
    if mode == "write":
        assert [p.name for p in complete] == [f"checkpoint-{4 * n:012d}.pt" for n in range(1, at)]
        assert any(name.endswith(".tmp") for name in left), "the half-written file is only a temporary file"
    for path in complete:  # every checkpoint in place is complete
        ckpt.load_checkpoint(path)

    resumed = _trainer(run)
    resumed.load_state_dict(ckpt.load_checkpoint(ckpt.latest_checkpoint(run)))
    resumed.train()

    left = sorted(ckpt.checkpoint_dir(run).iterdir())
    assert left == ckpt.list_checkpoints(run), "no temporary or partial file is left after the resumed run saves"
    assert resumed.counters == straight.counters
    for name in ("G", "D", "E", "G_ema", "E_ema"):
        a, b = getattr(straight, name).state_dict(), getattr(resumed, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), f"{name} differs from the uninterrupted run"
