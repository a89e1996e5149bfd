"""The benchmark code runs (on the 16 px toy size; no timing is asserted), and, where a CUDA device
exists, the GPU paths: fused = non-fused modulated conv, batched AttFind = the CPU reference,
bf16 AttFind keeps the selected attributes, and a few training steps in bf16 / channels_last.
The CUDA tests are skipped without a GPU; benchmarks/gpu_check.sh runs them."""

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1]))  # benchmarks/ is a top-level package of the repository

from benchmarks import common  # noqa: E402
from benchmarks.attfind import FirstCoordinates, attfind_speed  # noqa: E402
from benchmarks.generator import generator_cost  # noqa: E402
from benchmarks.networks import network_config  # noqa: E402
from benchmarks.run import main  # noqa: E402
from benchmarks.training import adam_step_speed, training_speed  # noqa: E402
from stylex.attfind.effects import EditSpec, ExactEffects, ReferenceEffects  # noqa: E402

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_summary_and_ranges():
    s = common.summary([3.0, 1.0, 2.0])
    assert s == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert common.fmt_range(s, digits=1) == "2.0 (1.0-3.0)"
    assert common.invert(s, 6.0) == {"median": 3.0, "min": 2.0, "max": 6.0, "n": 3}
    assert common.fmt_range(common.summary([0.5]), scale=2) == "1.00"


def test_first_coordinates_reference_is_the_start_of_the_full_one():
    G = common.bench_generator(network_config("tiny-16"), "cpu")
    clf = common.bench_classifier(2, 16, "cpu")
    space = G.stylespace()
    pool = common.sample_styles(G, 4)
    flat = space.flatten(pool)
    one = [s[:1] for s in pool]
    lo, hi = flat.min(0).values, flat.max(0).values
    part = ReferenceEffects().effects(G, clf, one, EditSpec(FirstCoordinates(space, 5), lo, hi))
    full = ExactEffects().effects(G, clf, one, EditSpec(space, lo, hi))
    assert part.effect.shape == (2, 5, 2)
    torch.testing.assert_close(part.effect, full.effect[:, :5], atol=1e-4, rtol=0)


def test_generator_cost_counts_flops():
    r = generator_cost("tiny-16", repeats=1, batch=4)
    assert r["g_flops"] > 1e6 and r["classifier_flops"] > 1e5 and r["style_coordinates"] > 0
    assert r["ms_per_image_b1"]["n"] == 1 and r["gflops_b4"] > 0
    # Counting on the meta device gives the same FLOPs at any size without running anything.
    assert generator_cost("paper-256", timed=False)["g_flops"] > 5e10


def test_attfind_speed_runs_every_path():
    r = attfind_speed("tiny-16", images=1, repeats=1, reference_passes=9, candidates=4, batch=16)
    assert r["reference_passes_timed"] == 9 and r["edits_per_image"] == 2 * r["coordinates"]
    assert set(r["seconds_per_image"]) == {"reference", "batched", "taylor"}
    assert r["gflop_per_image"]["taylor"] < r["gflop_per_image"]["batched"] < r["gflop_per_image"]["reference"]
    assert r["ratio_batched_vs_reference"]["n"] == 1


def test_run_isolated_returns_the_child_result():
    info = common.run_isolated(common.machine_info, torch.device("cpu"), threads=1)
    assert info["threads"] == 1 and info["torch"] == torch.__version__


def test_adam_step_speed_times_both_optimizers_on_the_same_parameters():
    r = adam_step_speed("tiny-16", steps=2, repeats=2)
    assert r["tensors"] > 0 and r["params_m"] > 0
    assert r["default_ms"]["n"] == r["fused_ms"]["n"] == r["ratio"]["n"] == 2
    assert r["default_ms"]["median"] > 0 and r["fused_ms"]["median"] > 0


def test_training_speed_reports_throughput_and_memory():
    r = training_speed("tiny-16", iterations=2, warmup=1, repeats=1, batch=4)
    assert r["batch"] == 4 and r["images_per_s"]["median"] > 0 and r["peak_rss_mb"] > 0
    assert r["s_per_kimg"]["median"] == pytest.approx(1000 / r["images_per_s"]["median"])


def test_entry_point_writes_tables(tmp_path, capsys):
    results = tmp_path / "RESULTS.md"
    argv = ["--quick", "--sizes", "tiny-16", "--only", "generator,attfind", "--out", str(tmp_path / "o"),
            "--results", str(results)]
    assert main(argv) == 0
    assert results.read_text().startswith("# Benchmark results") and "### Generator" in results.read_text()
    raw = json.loads((tmp_path / "o" / "results.json").read_text())
    assert raw["attfind"][0]["size"] == "tiny-16" and raw["machine"]["torch"] == torch.__version__
    block = (tmp_path / "o" / "results.md").read_text()
    assert "### AttFind Step A" in block and "| tiny-16 |" in block and "Command: `python -m benchmarks.run" in block
    assert "### AttFind Step A" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--only", "taylor"])  # needs --taylor-run


# -- CUDA ---------------------------------------------------------------------------------------


@pytest.fixture
def exact_cuda():
    """fp32 convolutions and matrix products on CUDA (no TF32) for comparisons with the CPU."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield torch.device("cuda")
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@cuda
def test_cuda_fused_equals_nonfused(exact_cuda):
    G = common.bench_generator(network_config("tiny-16"), exact_cuda)
    styles = common.sample_styles(G, 6)
    with torch.no_grad():
        G.fused_modconv = True
        fused = G.synthesis(styles)
        G.fused_modconv = False
        plain = G.synthesis(styles)
    torch.testing.assert_close(fused, plain, atol=1e-4, rtol=1e-4)


@cuda
def test_cuda_batched_effects_equal_cpu_reference(exact_cuda):
    out = {}
    for device in ("cpu", exact_cuda):
        G = common.bench_generator(network_config("tiny-16"), device)
        clf = common.bench_classifier(2, 16, device)
        pool = common.sample_styles(G, 4)
        flat = G.stylespace().flatten(pool)
        one = [s[1:2] for s in pool]
        method = ReferenceEffects() if device == "cpu" else ExactEffects()
        spec = EditSpec(G.stylespace(), flat.min(0).values, flat.max(0).values)
        out[str(device)] = method.effects(G, clf, one, spec).effect.cpu()
    assert out["cpu"].abs().max() > 0.05
    torch.testing.assert_close(out["cuda"], out["cpu"], atol=2e-4, rtol=0)


@cuda
def test_cuda_bf16_attfind_keeps_the_selected_attributes():
    r = attfind_speed("cpu-32", device="cuda", images=1, repeats=1, reference_passes=9, precision="bf16",
                      count=False)
    a = r["bf16_vs_fp32"]
    assert a["top_k"] >= 5 and a["kept"] >= a["top_k"] - 1, a


@cuda
def test_cuda_auto_batch_fits_memory():
    from stylex.attfind.effects import auto_batch

    G = common.bench_generator(network_config("cpu-32"), "cuda")
    clf = common.bench_classifier(2, 32, "cuda")
    batch = auto_batch(G, clf, [s[:1] for s in common.sample_styles(G, 1)])
    assert batch % 8 == 0 and 8 <= batch <= 4096


@cuda
@pytest.mark.parametrize("precision,channels_last", [("fp32", False), ("bf16", True)])
def test_cuda_training_steps(precision, channels_last):
    r = training_speed("tiny-16", device="cuda", precision=precision, channels_last=channels_last, iterations=2,
                       warmup=1, repeats=1, batch=8)
    assert r["cuda_max_allocated_mb"] > 0 and r["images_per_s"]["median"] > 0
