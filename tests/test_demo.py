"""`stylex demo --quick` end to end: every stage runs and the report and summary.json hold every
section and number (the quick sizes make the numbers meaningless, not absent)."""

import json
import sys

import matplotlib
import torch
from PIL import Image

from stylex.cli import main
from stylex.demo import RUNS, _curve_plot, diagonal_is_larger


def test_quick_demo_writes_the_report_and_every_number(tmp_path, capsys):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the test suite runs two workers on two cores
    try:
        assert main(["demo", "--quick", "--out", str(tmp_path), "--device", "cpu", "--condition-sparsity", "0.01",
                     "--condition-channels", "2", "--condition-resolution", "8", "--warmup-kimg", "0.03"]) == 0
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    assert "[14/14] report: done" in printed and str((tmp_path / "report.html").resolve()) in printed

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["quick"] is True and set(summary["classifiers"]) == {"clean", "shortcut"}
    # --condition-sparsity, --condition-channels, --condition-resolution and --warmup-kimg reach both
    # StylEx runs' configurations
    assert (summary["condition_sparsity"], summary["condition_channels"], summary["condition_resolution"],
            summary["sizes"]["warmup_kimg"]) == (0.01, 2, 8, 0.03)
    configs = [json.loads((tmp_path / "runs" / name / "config.json").read_text()) for name in RUNS]
    assert [(c["condition_sparsity"], c["network"]["condition_channels"], c["network"]["condition_resolution"],
             c["warmup_kimg"]) for c in configs] == [(0.01, 2, 8, 0.03)] * 2
    # and the rest of the cpu-32 preset's conditioning (docs/FIDELITY.md row D6)
    assert [(c["condition_swap"], c["network"]["condition_layers"]) for c in configs] == [(0.25, "conv")] * 2
    for clf in summary["classifiers"].values():
        assert 0 <= clf["independent_test_accuracy"] <= 1 and 0 <= clf["agreement_with_background"] <= 1
        assert clf["shortcut_test"]["factor"] == "background"
    top_k = summary["sizes"]["top_k"]
    for name, run in summary["runs"].items():
        b = run["baselines"]
        for method in ("attfind", "random", "wu"):
            assert 0 <= b[method]["flip_rate"] <= 1 and len(b[method]["curve"]) == top_k
        assert {"agreement", "kl", "l1"} <= set(run["reconstruction"])
        assert len(run["reconstruction"]["counterfactual_curve"]) == top_k + 1
        fid = run["fidelity"]
        assert fid["num_images"] > 0 and set(fid["factor_fidelity"]) >= {"smile", "glasses", "pose", "background"}
        assert "Fidelity" in (tmp_path / "report.html").read_text()
        gt = run["ground_truth"]
        assert gt["recovery_label"]["factor"] == "smile" and gt["recovery_shortcut"]["factor"] == "background"
        assert run["attributes"] and all(a["name"] for a in run["attributes"])
        explain = tmp_path / "runs" / name / "explain"
        assert (explain / "summary.png").is_file() and (explain / "attribute_01.gif").is_file()
        layers = run["layer_directions"]
        assert layers["top1_layer"] == layers["layers"][0]["layer"]  # (the quick images may all be in one class)
        assert all(0 <= e["flip_rate"] <= 1 and 0 <= e["random_flip_rate"] <= 1 for e in layers["layers"])
        assert (explain / "layer_direction.png").is_file()
    spec = summary["specificity"]
    for key in ("matrix", "layer_matrix"):
        assert {x: set(row) for x, row in spec[key].items()} == {"clean": {"clean", "shortcut"},
                                                                 "shortcut": {"clean", "shortcut"}}
    # Specificity's layer attribute is the one the run's own evaluation ranked first.
    assert spec["top_layers"] == {name: summary["runs"][name]["layer_directions"]["top1_layer"] for name in RUNS}

    # The shipped 300-kimg pair, measured as the runs are: its single coordinates explain the shortcut
    # classifier by the background, and its specificity diagonal is larger (models/README.md).
    shipped = summary["shipped"]
    assert set(shipped["runs"]) == set(RUNS)
    assert [shipped["runs"][name]["ground_truth"]["top1_dominant_factor"] for name in RUNS] == ["smile", "background"]
    assert diagonal_is_larger(shipped["specificity"]["matrix"])
    for name in RUNS:
        assert (tmp_path / "shipped" / name / "summary.png").is_file()

    page = (tmp_path / "report.html").read_text()
    for section in ("What was explained", "What it found", "the diagonal is", "Layer by layer",
                    "The clean classifier", "The shortcut classifier", "Its top attributes",
                    "Sufficiency against the baselines", "Classifier-specificity", "Reproduce", "--quick",
                    "the shipped models", "The shipped shortcut model's top attributes"):
        assert section in page, section
    for src in ("sufficiency.png", "runs/clean/explain/summary.png", "runs/shortcut/explain/layer_direction.png",
                "runs/shortcut/explain/attribute_01.gif", "world/contact_sheet.png", "shipped/shortcut/summary.png",
                "shipped/clean/attribute_01.gif"):
        assert f"src='{src}'" in page and (tmp_path / src).is_file(), src


def test_missing_shipped_models_are_named_in_the_report(tmp_path, monkeypatch):
    # A wheel install has no models/: the demo still runs, and its report says what is missing and where to put it.
    from stylex import demo, shipped

    monkeypatch.setenv(shipped.ENV_VAR, str(tmp_path / "nowhere"))
    monkeypatch.setattr(shipped, "CHECKOUT_MODELS", tmp_path / "no-checkout")
    pair = demo._shipped_pair(tmp_path, demo.QUICK_SIZES, oracle=None, device="cpu")
    assert set(pair) == {"missing"} and "STYLEX_MODELS" in pair["missing"]
    section = demo._shipped_section(pair)
    assert "Not shown" in section and "STYLEX_MODELS" in section


def test_curve_plot_leaves_the_global_matplotlib_backend_alone(tmp_path, monkeypatch):
    # The demo runs inside notebooks and other programs: switching their backend would break their plots.
    def switch(*args, **kwargs):
        raise AssertionError("_curve_plot switched the global backend")

    monkeypatch.setattr(matplotlib, "use", switch)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)  # importing pyplot now fails
    curve = [{"k": k, "flip_rate": k / 3} for k in (1, 2, 3)]
    results = {name: {"baselines": {m: {"curve": curve} for m in ("attfind", "wu", "random")}} for name in ("a", "b")}
    path = _curve_plot(results, tmp_path / "sufficiency.png")
    assert Image.open(path).size == (int(4.2 * 2 * 110), int(3.2 * 110))


def test_diagonal_is_larger_needs_every_own_rate_above_every_other():
    assert diagonal_is_larger({"a": {"a": 0.5, "b": 0.1}, "b": {"a": 0.4, "b": 0.6}})
    assert not diagonal_is_larger({"a": {"a": 0.5, "b": 0.1}, "b": {"a": 0.5, "b": 0.9}})  # a tie is not larger
    assert not diagonal_is_larger({"a": {"a": 0.3, "b": 0.1}, "b": {"a": 0.4, "b": 0.9}})


def test_demo_refuses_a_warmup_longer_than_the_runs(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path), "--warmup-kimg", "1"]) == 2
    assert "--warmup-kimg 1: must lie between 0 and the runs' 0.05 kimg" in capsys.readouterr().err
    assert not (tmp_path / "world").exists()  # refused before any work


def test_demo_refuses_an_impossible_condition_resolution_before_any_work(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path), "--condition-resolution", "2"]) == 2
    assert "condition_resolution 2: must be 0 (every resolution) or at least 4" in capsys.readouterr().err
    assert not (tmp_path / "world").exists()
