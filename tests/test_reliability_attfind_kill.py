"""Reliability: `stylex attfind` killed with SIGKILL while it creates the records file and while it
computes effects, then run again with the same arguments: it resumes and the final records equal an
uninterrupted run's. (Killing the library call between images is
test_attfind_records.py::test_resume_after_kill_9_gives_identical_records.)"""


import numpy as np
import pytest
from reliability_files import build_files, run_until_killed

from stylex.attfind import load_records
from stylex.cli import main

# The child runs the CLI and announces the moment to kill it: `create` (the new records file is
# complete in its temporary file, not yet in place) or `effects` (image AT's effects are computed,
# not yet written).
CHILD = """
import os, sys, time, torch
torch.set_num_threads(1)
from stylex.attfind.effects import ExactEffects
from stylex.cli import main
mode, at, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
real_replace, real_effects, count = os.replace, ExactEffects.effects, [0]

def replace(src, dst):
    if mode == "create" and str(dst).endswith(".h5"):
        print("kill", flush=True)
        time.sleep(600)
    return real_replace(src, dst)

def effects(*args, **kwargs):
    result = real_effects(*args, **kwargs)
    count[0] += 1
    if mode == "effects" and count[0] == at:
        print("kill", flush=True)
        time.sleep(600)
    return result

os.replace, ExactEffects.effects = replace, effects
main(argv)
print("finished", flush=True)
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    f = build_files(tmp_path_factory.mktemp("attfind_kill"))
    f["straight"] = f["root"] / "straight.h5"
    assert main(_args(f, f["straight"])) == 0
    return f


def _args(files, out):
    return ["attfind", "--run", str(files["run"]), "--split", "all", "--num-images", "5", "--batch", "40",
            "--out", str(out), "--device", "cpu", "--no-progress", "--top-k", "3"]


@pytest.mark.parametrize("mode, at", [("create", 0), ("effects", 3)])
def test_kill_9_then_rerun_gives_the_uninterrupted_records(files, mode, at, tmp_path):
    out = tmp_path / "records.h5"
    run_until_killed([CHILD, mode, str(at), *_args(files, out)])
    if mode == "create":
        assert not out.exists() and any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
    else:
        assert load_records(out, require_complete=False).done.sum() == at - 1

    assert main(_args(files, out)) == 0  # the same command again
    final, straight = load_records(out), load_records(files["straight"])
    for name in ("styles", "base_logits", "style_min", "style_max", "effect", "done"):
        np.testing.assert_array_equal(getattr(final, name), getattr(straight, name), err_msg=name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["attributes.json", "records.h5"], "nothing partial left"
