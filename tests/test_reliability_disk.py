"""Reliability: a full disk or an unwritable output location. Unwritable places fail at start with
one line naming the flag; a write that fails part-way (ENOSPC) leaves the previous good file in
place, no temporary file behind, and a run that resumes."""

import errno
import os

import h5py
import numpy as np
import pytest
import torch
from reliability_files import build_files, one_line_error

from stylex.cli import main
from stylex.errors import StylexError
from stylex.runtime import atomic_torch_save, atomic_write_bytes, check_writable_dir

CPU = ["--device", "cpu", "--no-progress"]


def _enospc(path=None):
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path) if path else None)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return build_files(tmp_path_factory.mktemp("disk"))


def _train(files, out, *extra):
    return ["train", "--data", str(files["world"]), "--classifier", str(files["clf"]), "--out", str(out),
            "--perceptual", "classifier", "--batch", "4", "--resolution", "16", *CPU, *extra]


def test_unwritable_output_locations_fail_at_start(files, capsys, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    one_line_error(capsys, _train(files, blocker / "run"), f"--out {blocker / 'run'}", "cannot write there")
    attfind = ["attfind", "--run", str(files["run"]), "--out", str(blocker / "records.h5"), *CPU]
    one_line_error(capsys, attfind, "--out", "cannot write there")
    clf = ["train-classifier", "--data", str(files["world"]), "--out", str(blocker / "c.pt"), "--device", "cpu"]
    one_line_error(capsys, clf, "--out", "cannot write there")

    def read_only(*args, **kwargs):  # as on a read-only mount (root ignores permission bits, so simulate)
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr("stylex.runtime.tempfile.TemporaryFile", read_only)
    one_line_error(capsys, _train(files, tmp_path / "ro"), "--out", "Read-only file system")
    assert not list((tmp_path / "ro").iterdir()), "nothing written before the check"
    with pytest.raises(StylexError, match="--out"):
        check_writable_dir(tmp_path, "--out")


def test_failed_writes_keep_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "config.json"
    atomic_write_bytes(target, b"good")
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(_enospc()))
    with pytest.raises(OSError, match="No space"):
        atomic_write_bytes(target, b"new and longer")
    monkeypatch.undo()
    assert target.read_bytes() == b"good" and [p.name for p in tmp_path.iterdir()] == ["config.json"]

    model = tmp_path / "model.pt"
    atomic_torch_save({"w": torch.ones(3)}, model)

    def torch_full(obj, f):  # torch reports a failed write as RuntimeError
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    monkeypatch.setattr(torch, "save", torch_full)
    with pytest.raises(OSError, match="is the disk full") as info:
        atomic_torch_save({"w": torch.zeros(3)}, model)
    assert info.value.filename == str(model)
    monkeypatch.undo()
    assert torch.equal(torch.load(model, weights_only=True)["w"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.pt"]


def test_disk_full_during_a_training_checkpoint(files, capsys, tmp_path, monkeypatch):
    from stylex.training import checkpoint as ckpt

    out = tmp_path / "run"
    real_save, calls = torch.save, []

    def fills_the_disk(obj, path):
        calls.append(path)
        if len(calls) == 2:  # the second checkpoint: half a file, then the disk is full
            with open(path, "wb") as f:
                f.write(b"half a checkpoint")
            raise _enospc(path)
        return real_save(obj, path)

    monkeypatch.setattr(torch, "save", fills_the_disk)
    line = one_line_error(capsys, _train(files, out, "--kimg", "0.008", "--snap", "0.004"), "No space left on device",
                          "free disk space")
    assert "checkpoint-000000000008.pt" in line
    monkeypatch.undo()
    assert [p.name for p in ckpt.checkpoint_dir(out).iterdir()] == ["checkpoint-000000000004.pt"]
    assert ckpt.load_trained(out).kimg == pytest.approx(0.004)
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--resume", *CPU]) == 0  # space freed: the run continues
    assert ckpt.latest_checkpoint(out).name == "checkpoint-000000000008.pt"


def test_disk_full_while_writing_records(files, capsys, tmp_path, monkeypatch):
    from stylex.attfind import load_records

    def attfind(out):
        return ["attfind", "--run", str(files["run"]), "--split", "all", "--num-images", "4", "--batch", "40",
                "--out", str(out), *CPU]

    assert main(attfind(tmp_path / "straight.h5")) == 0
    path, real_set, writes = tmp_path / "records.h5", h5py.Dataset.__setitem__, []

    def fills_the_disk(self, key, value):
        if self.name == "/effect":
            writes.append(key)
            if len(writes) == 3:
                raise _enospc(path)
        real_set(self, key, value)

    monkeypatch.setattr(h5py.Dataset, "__setitem__", fills_the_disk)
    one_line_error(capsys, attfind(path), str(path), "No space left on device")
    monkeypatch.undo()
    partial = load_records(path, require_complete=False)
    assert partial.done.sum() == 2
    assert main(attfind(path)) == 0  # resumes the two missing images
    final, straight = load_records(path), load_records(tmp_path / "straight.h5")
    np.testing.assert_array_equal(final.effect, straight.effect)
