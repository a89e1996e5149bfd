"""The three commands end to end on files: `stylex attfind` (records, resume, select, torchrun
shards), `stylex explain` and `stylex evaluate`, with a tiny random checkpoint, a small-cnn
classifier file and a small synthetic world (conftest's `tiny_run`)."""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from stylex.cli import main


def attfind_args(run_dir, out, *extra):
    return ["attfind", "--run", str(run_dir), "--split", "all", "--num-images", "6", "--out", str(out),
            "--batch", "40", "--device", "cpu", "--no-progress", "--top-k", "3", *extra]


@pytest.fixture(scope="module")
def records_path(tiny_run):
    out = tiny_run / "attfind" / "records.h5"
    assert main(attfind_args(tiny_run, out, "--discriminator-score")) == 0
    return out


def test_attfind_writes_records_and_attributes(records_path, tiny_run, capsys):
    from stylex.attfind import load_records

    records = load_records(records_path)
    assert records.complete and records.num_images == 6 and records.class_names == ["frown", "smile"]
    assert records.meta["world"] == {"label": "smile", "shortcut": None}
    assert records.disc_effect is not None and records.disc_effect.shape == (6, 2, records.space.size)
    data = json.loads((records_path.parent / "attributes.json").read_text())
    assert data["records"] == "records.h5" and 1 <= len(data["attributes"]) <= 6
    # Running the same command again resumes the finished file (nothing to do) and re-selects.
    assert main(attfind_args(tiny_run, records_path, "--discriminator-score")) == 0
    np.testing.assert_array_equal(load_records(records_path).effect, records.effect)
    # Other settings are refused with a one-line error.
    capsys.readouterr()
    assert main(attfind_args(tiny_run, records_path, "--shift", "0.5")) == 2
    assert "other settings" in capsys.readouterr().err


def test_attfind_select_reruns_the_selection(records_path):
    out = records_path.parent / "strict.json"
    args = ["attfind", "select", "--records", str(records_path), "--out", str(out), "--top-k", "2",
            "--threshold", "0.01", "--discriminator-filter", "0.5", "--no-unstable-filter"]
    assert main(args) == 0
    data = json.loads(out.read_text())
    assert data["options"]["top_k"] == 2 and data["options"]["discriminator_limit"] == 0.5
    assert data["options"]["unstable_filter"] is False
    assert all(len(lst["attributes"]) <= 2 for lst in data["lists"])


def test_attfind_select_unstable_share_or_count(records_path, tmp_path, capsys):
    from stylex.attfind.selection import UNSTABLE_SHARE

    out = tmp_path / "a.json"
    base = ["attfind", "select", "--records", str(records_path), "--out", str(out)]
    assert main(base) == 0
    options = json.loads(out.read_text())["options"]
    assert options["unstable_share"] == pytest.approx(UNSTABLE_SHARE) and options["unstable_count"] is None
    assert main([*base, "--unstable-share", "0.1"]) == 0
    assert json.loads(out.read_text())["options"]["unstable_share"] == 0.1
    assert main([*base, "--unstable-count", "750"]) == 0
    assert json.loads(out.read_text())["options"]["unstable_count"] == 750
    with pytest.raises(SystemExit):  # one or the other
        main([*base, "--unstable-count", "750", "--unstable-share", "0.1"])
    with pytest.raises(SystemExit):
        main([*base, "--unstable-share", "2"])


def test_discriminator_filter_refuses_records_of_the_old_rule(records_path, tmp_path, capsys):
    import h5py

    from stylex.attfind import load_records

    assert load_records(records_path).disc_shift == 2.0
    old = tmp_path / "records.h5"
    shutil.copy(records_path, old)
    with h5py.File(old, "r+") as f:
        del f.attrs["disc_shift"]  # as written before D was scored at shift 2 under C(edited)
    base = ["attfind", "select", "--records", str(old), "--out", str(tmp_path / "a.json")]
    assert main(base) == 0  # without the filter the records still select
    capsys.readouterr()
    assert main([*base, "--discriminator-filter", "0.2"]) == 2
    assert "older stylex" in capsys.readouterr().err


def test_explain_and_evaluate(records_path, tmp_path, capsys):
    out = tmp_path / "explain"
    assert main(["explain", "--records", str(records_path), "--out", str(out), "--top-k", "2", "--examples", "1",
                 "--images", "2", "--gif-frames", "3", "--no-progress"]) == 0
    assert (out / "index.html").is_file() and (out / "summary.png").is_file()
    capsys.readouterr()
    assert main(["evaluate", "sufficiency", "--records", str(records_path), "--top-k", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0.0 <= result["flip_rate"] <= 1.0 and len(result["curve"]) == 2 and result["n_images"] == 6
    assert main(["evaluate", "reconstruction", "--records", str(records_path), "--top-k", "1"]) == 0
    assert "agreement" in capsys.readouterr().out
    assert main(["evaluate", "condition", "--records", str(records_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["what"] == "condition" and result["curve"][-1]["k"] == result["coordinates"]
    assert all(0.0 <= c["flip_rate"] <= 1.0 for c in result["curve"])


def test_recorded_latents_and_conditions_give_the_recorded_styles(records_path):
    from stylex.attfind import load_context

    editor = load_context(records_path).editor()
    conditions = editor.records.conditions
    own = torch.cat([editor.with_condition([r], conditions[r]) for r in range(editor.num_images)])
    assert torch.allclose(own, editor.styles, atol=1e-5)


def test_moved_files_are_named(records_path, tiny_run, tmp_path, capsys):
    moved = tmp_path / "records.h5"
    shutil.copy(records_path, moved)
    shutil.copy(records_path.parent / "attributes.json", tmp_path / "attributes.json")
    other = tmp_path / "other.pt"
    shutil.copy(tiny_run / "checkpoints" / os.listdir(tiny_run / "checkpoints")[0], other)
    with torch.no_grad():  # a different checkpoint file: same format, other bytes
        data = torch.load(other, weights_only=True)
        data["counters"]["nimg"] = 1
        torch.save(data, other)
    capsys.readouterr()
    assert main(["evaluate", "sufficiency", "--records", str(moved), "--checkpoint", str(other)]) == 2
    assert "not the one" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None, reason="no torchrun")
def test_torchrun_shards_merge_to_the_single_process_records(records_path, tiny_run, tmp_path):
    from stylex.attfind import load_records

    out = tmp_path / "records.h5"
    torchrun = str(Path(sys.executable).parent / "torchrun")
    # This checkout first, then whatever the caller had (a mutation tool, for one).
    pythonpath = os.pathsep.join(filter(None, [str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": pythonpath}
    args = attfind_args(tiny_run, out, "--discriminator-score")
    args[1] = "--checkpoint"  # torchrun would take --run for its own --run-path
    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [torchrun, "--nproc_per_node", "2", "--master_port", str(port), "-m", "stylex", *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    merged, single = load_records(out), load_records(records_path)
    assert merged.complete and not list(tmp_path.glob("*.shard*"))
    np.testing.assert_allclose(merged.effect, single.effect, atol=1e-5)
    assert (tmp_path / "attributes.json").is_file()


def test_evaluate_ground_truth_reads_the_world_factors(records_path, tmp_path, capsys):
    from stylex.oracle import FactorOracle, OracleNet, save_oracle

    torch.manual_seed(0)
    oracle = tmp_path / "oracle.pt"
    save_oracle(FactorOracle(OracleNet()), oracle)  # untrained: this checks the wiring, not the oracle
    capsys.readouterr()
    assert main(["evaluate", "ground-truth", "--records", str(records_path), "--top-k", "2", "--oracle", str(oracle),
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["recovery_label"]["factor"] == "smile" and "recovery_shortcut" not in result
    first = result["attributes"][0]
    assert set(first["factor_change"]) >= {"smile", "glasses", "background"}
    assert first["dominant_factor"] == max(first["factor_change"], key=first["factor_change"].get)


@pytest.fixture(scope="module")
def keyed_run_dir(tiny_run):
    """A run directory like `tiny_run`'s, on the same world, whose generator and classifier make the
    explanation known (tests/keyed_stylex.py): coordinate `key` of the generator alone decides the
    image (bright or dark), the classifier file is a hand-set small-cnn that calls bright images
    "smile", and the key style is a projection of E(x) centred on the six analysed images, so three
    start as "frown" and three as "smile"."""
    from keyed_stylex import brightness_small_cnn, make_keyed

    from stylex.classifiers import load_classifier, save_classifier
    from stylex.commands.attfind import _load_images
    from stylex.config import NetworkConfig, TrainingConfig, to_dict
    from stylex.datasets import open_dataset
    from stylex.training.checkpoint import save_checkpoint

    root = tiny_run.parent / "keyed"
    world = tiny_run.parent / "world"
    clf_path = root / "bright.pt"
    root.mkdir()
    save_classifier(clf_path, brightness_small_cnn(), arch="small-cnn", class_names=["frown", "smile"],
                    input_size=32, normalization=None, arch_kwargs={"width": 4})
    cfg = NetworkConfig(resolution=32, z_dim=16, w_dim=16, mapping_layers=1, g_channel_base=128, g_channel_max=8,
                        d_channel_base=128, d_channel_max=8)
    config = TrainingConfig(network=cfg, data=str(world), classifier=str(clf_path),
                            classifier_fingerprint=load_classifier(clf_path).fingerprint)
    torch.manual_seed(1)
    G, D, E = cfg.build_generator(), cfg.build_discriminator(), cfg.build_encoder()
    images, _, _ = _load_images(open_dataset(str(world), 32, split="all"), 6, seed=0)  # what attfind analyses
    with torch.no_grad():
        w = E.eval()(images)
    readout = torch.randn(w.shape[1])
    projection = w @ readout
    scale = 1 / (projection.std() + 1e-12)
    centre = float((projection.sort().values[2] + projection.sort().values[3]) / 2)
    key = make_keyed(G, readout * scale, offset=-centre * float(scale))
    save_checkpoint(root / "run", {"config": to_dict(config), "G_ema": G.state_dict(), "E_ema": E.state_dict(),
                                   "D": D.state_dict(), "counters": {"nimg": 0}})
    return root / "run", key


def test_known_explanation_end_to_end(keyed_run_dir, capsys):
    """attfind, evaluate and explain on the keyed run: the key is found, to its minimum toward
    frown; it flips every decision; random coordinates and the condition flip none."""
    from stylex.attfind import load_records

    run, key = keyed_run_dir
    out = run / "attfind" / "records.h5"
    assert main(attfind_args(run, out)) == 0
    records = load_records(out)
    assert sorted(records.predicted.tolist()) == [0, 0, 0, 1, 1, 1]
    data = json.loads((out.parent / "attributes.json").read_text())
    top = data["attributes"][0]
    assert (top["coordinate"], top["direction_name"], top["toward_class_name"]) == (key, "to_min", "frown")
    assert top["name"] == records.space.name(key) and top["images_moved"] == 6
    assert all(a["score"] < 1e-3 for a in data["attributes"][1:])  # nothing else moves the classifier

    capsys.readouterr()
    assert main(["evaluate", "sufficiency", "--records", str(out), "--top-k", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [c["flips"] for c in result["curve"]] == [6, 6] and result["flip_rate"] == 1.0
    assert main(["evaluate", "baselines", "--records", str(out), "--top-k", "1", "--seeds", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["attfind"]["flip_rate"] == 1.0
    # Seeds 0-2 draw one coordinate each out of 56, none of them the key: no flips at all.
    assert result["random"]["per_seed"] == [0.0, 0.0, 0.0]
    assert main(["evaluate", "condition", "--records", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["flip_rate_all_styles"] == 0.0  # the keyed generator ignores its condition
    # The run judged against itself: its attributes flip "both" classifiers alike.
    assert main(["evaluate", "specificity", "--records", str(out), "--other-records", str(out), "--top-k", "1"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[:2] == [f"attributes of {x}: classifier A: 1.000  classifier B: 1.000" for x in "AB"]
    assert printed[2].startswith("top layer direction of A (b") and printed[2].count("classifier") == 2

    explain = run / "explain"
    assert main(["explain", "--records", str(out), "--out", str(explain), "--top-k", "1", "--examples", "1",
                 "--images", "2", "--gif-frames", "3", "--no-progress"]) == 0
    page = (explain / "index.html").read_text()
    assert f"<td>{records.space.name(key)}</td><td>to min &rarr; frown</td>" in page
