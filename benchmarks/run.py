"""The benchmark entry point: measure, print, and append a dated block to benchmarks/RESULTS.md.

    python -m benchmarks.run [--device cpu|cuda] [--only generator,attfind,training,taylor] [--quick]

Sections: `generator` (forward FLOPs and time per image), `attfind` (reference loop vs batched
exact vs Taylor-screened, same model and images), `training` (images/s, s/kimg, peak memory; each
configuration in its own process) and `taylor` (Taylor-screened vs exact AttFind on a trained run:
needs --taylor-run). On CPU the sizes are the `cpu-32` preset's; on CUDA 64, 128 and 256 px.
--quick runs fewer repeats, times the reference loop on its first passes only, and shorter
training rounds (a smoke test of the whole thing, not figures to quote).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from benchmarks import common

SECTIONS = ("generator", "attfind", "training", "taylor")
GPU_SIZES = ["repro-64", "paper-128", "paper-256"]
DEFAULT_SIZES = {**{("cpu", s): ["cpu-32"] for s in SECTIONS}, **{("cuda", s): GPU_SIZES for s in SECTIONS},
                 ("cuda", "attfind"): ["repro-64", "paper-256"]}


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to measure (default cpu)")
    p.add_argument("--only", default="generator,attfind,training",
                   help="comma-separated sections: generator, attfind, training, taylor "
                        "(default generator,attfind,training; taylor needs --taylor-run)")
    p.add_argument("--quick", action="store_true", help="short smoke-test measurements")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads (default: torch's default, one per core; use 1 on a shared machine)")
    p.add_argument("--repeats", type=int, default=0, help="timed repeats per measurement (default 3; --quick 1)")
    p.add_argument("--sizes", default="",
                   help="comma-separated benchmark sizes for every section (cpu-32, repro-64, paper-128, paper-256, "
                        "tiny-16; default: cpu-32 on CPU; on CUDA repro-64,paper-256 for attfind and "
                        "repro-64,paper-128,paper-256 for generator and training)")
    p.add_argument("--compile", action="store_true",
                   help="on CUDA also time training with torch.compile (adds minutes of compilation per size)")
    p.add_argument("--out", help="folder for results.json and results.md (default: none)")
    p.add_argument("--results", default=str(common.RESULTS),
                   help="results file the dated block is appended to (default benchmarks/RESULTS.md)")
    p.add_argument("--no-append", action="store_true", help="do not append to the results file")
    p.add_argument("--taylor-run", help="trained run directory (or checkpoint) for the taylor section")
    p.add_argument("--taylor-data", help="data spec for the taylor section (default: the run's training data)")
    p.add_argument("--taylor-images", type=int, default=100, help="images the taylor section analyses (default 100)")
    p.add_argument("--taylor-candidates", default="8,16,32",
                   help="comma-separated Taylor candidates per class to compare (default 8,16,32)")
    args = p.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in args.only if s not in SECTIONS]
    if unknown:
        p.error(f"--only: unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    if "taylor" in args.only and not args.taylor_run:
        p.error("the taylor section needs --taylor-run RUN_DIR (a trained model)")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available")
    args.repeats = args.repeats or (1 if args.quick else 3)
    from benchmarks.networks import SIZES

    given = [s.strip() for s in args.sizes.split(",") if s.strip()]
    if any(s not in SIZES for s in given):
        p.error(f"--sizes: choose from {', '.join(SIZES)}")
    args.sizes = {section: given or DEFAULT_SIZES[args.device, section] for section in SECTIONS}
    return args


# -- the sections ---------------------------------------------------------------------------------


def run_generator(args) -> tuple[list, str]:
    from benchmarks.generator import generator_cost
    from benchmarks.networks import SIZES, TEST_SIZES

    timed = args.sizes["generator"]
    sizes = [s for s in SIZES if s not in TEST_SIZES or s in timed]
    results = [generator_cost(s, args.device, repeats=args.repeats, timed=s in timed) for s in sizes]
    rows = []
    for r in results:
        timed = "ms_per_image_b1" in r
        b = r.get("batch")
        rows.append([
            r["size"], r["resolution"], r["style_coordinates"], f"{r['g_params_m']:.2f}", f"{r['g_flops'] / 1e9:.3f}",
            f"{r['classifier_flops'] / 1e9:.3f}",
            common.fmt_range(r["ms_per_image_b1"]) if timed else "-",
            common.fmt_range(r[f"ms_per_image_b{b}"]) + f" (b{b})" if timed else "-",
            f"{r[f'gflops_b{b}']:.1f}" if timed else "-",
            common.fmt_range(r["conv_peak_gflops"], digits=0) if timed else "-",
        ])
    header = ["size", "px", "style coords", "G params (M)", "G GFLOP/img", "classifier GFLOP/img",
              "ms/img batch 1", "ms/img batched", "achieved GFLOP/s", "conv ceiling GFLOP/s"]
    text = ("### Generator forward cost\n\nFLOPs counted by FlopCounterMode (2 per multiply-add; element-wise work "
            "not counted); classifier: random small-cnn at native resolution. The conv ceiling is a 3x3 "
            "128->128 NHWC convolution of 16 32x32 maps on this device.\n\n" + common.markdown_table(header, rows))
    return results, text


def run_attfind(args) -> tuple[list, str]:
    from benchmarks.attfind import attfind_speed

    configs = []
    for size in args.sizes["attfind"]:
        precisions = ["fp32", "bf16"] if args.device == "cuda" else ["fp32"]
        for precision in precisions:
            passes = None
            if args.device == "cuda" or args.quick:  # the full reference loop takes minutes there
                passes = 201 if args.quick or size == "paper-256" else 401
            configs.append(dict(size=size, device=args.device, precision=precision, reference_passes=passes,
                                repeats=max(2, args.repeats) if not args.quick else 1))
    results = [attfind_speed(**c) for c in configs]
    rows = []
    for r in results:
        sec, rate, flops, gf = (r["seconds_per_image"], r["coord_evals_per_s"], r.get("gflop_per_image"),
                                r.get("achieved_gflops"))
        cpu = r.get("cpu_seconds_per_image")
        for path in ("reference", "batched", "taylor"):
            vs = {"reference": "1", "batched": common.fmt_range(r["ratio_batched_vs_reference"], digits=1) + "x",
                  "taylor": common.fmt_range(r["ratio_taylor_vs_batched"], digits=1) + "x vs batched"}[path]
            if cpu and path != "reference":
                key = "cpu_ratio_batched_vs_reference" if path == "batched" else "cpu_ratio_taylor_vs_batched"
                vs += f"; CPU time {common.fmt_range(r[key], digits=1)}x"
            name = path if path != "taylor" else f"taylor (M={r['candidates']})"
            if path == "reference" and r["reference_passes_timed"] < 1 + r["edits_per_image"]:
                name += f" ({r['reference_passes_timed']} passes timed, scaled)"
            rows.append([r["size"], r["precision"] if path != "reference" else "fp32", r["coordinates"], name,
                         common.fmt_range(sec[path], digits=3), common.fmt_range(cpu[path], digits=3) if cpu else "-",
                         f"{rate[path]['median']:.0f}", vs, f"{flops[path]:.1f}" if flops else "-",
                         f"{gf[path]:.1f}" if gf else "-"])
    header = ["size", "precision", "coords S", "path", "s/image", "CPU s/image", "coord-evals/s", "speed-up",
              "GFLOP/image", "achieved GFLOP/s"]
    agreement = []
    for r in results:
        if "bf16_vs_fp32" in r:
            a = r["bf16_vs_fp32"]
            agreement.append(f"{r['size']}: bf16 keeps {a['kept']} of the fp32 top-{a['top_k']} attributes on "
                             f"{a['images']} images (largest effect difference {a['max_abs_diff']:.3g} logits; "
                             f"largest effect {a['max_abs_effect']:.3g})")
    text = ("### AttFind Step A, per image (2S edits)\n\nSame random-weight model and images for all paths, "
            f"{results[0]['images']} image(s) x {results[0]['repeats']} repeat(s); median (range). Speed-ups are "
            "taken within each repeat. Batch: " + ", ".join(f"{r['size']} {r['batch']}" for r in results) +
            ".\n\n" + common.markdown_table(header, rows) + "".join(f"\n\n{a}." for a in agreement))
    return results, text


def run_training(args) -> tuple[dict, str]:
    from benchmarks.training import adam_step_speed, training_speed

    iterations = 4 if args.quick else 16
    repeats = 1 if args.quick or args.device == "cuda" else 2
    configs = []
    for size in args.sizes["training"]:
        if args.device == "cpu":
            configs += [dict(size=size, channels_last=False), dict(size=size, channels_last=True)]
        else:
            configs += [dict(size=size, precision="fp32"), dict(size=size, precision="bf16"),
                        dict(size=size, precision="bf16", channels_last=True)]
            if args.compile:
                configs.append(dict(size=size, precision="bf16", channels_last=True, compile=True))
    results = []
    for c in configs:
        results.append(common.run_isolated(training_speed, device=args.device, iterations=iterations,
                                           repeats=repeats, threads=args.threads, **c))
    rows = [[r["size"], r["resolution"], f"{r['g_params_m']:.2f} / {r['d_params_m']:.2f} / {r['e_params_m']:.2f}",
             r["precision"], "yes" if r["channels_last"] else "no", "yes" if r["compile"] else "no", r["batch"],
             common.fmt_range(r["images_per_s"], digits=1), common.fmt_range(r["s_per_kimg"], digits=1),
             common.fmt_range(r["images_per_cpu_s"], digits=1) if args.device == "cpu" else "-",
             f"{r['peak_rss_mb']:.0f}", f"{r['cuda_max_allocated_mb']:.0f}" if "cuda_max_allocated_mb" in r else "-",
             f"{r['host_syncs_per_iteration']:.1f}" if "host_syncs_per_iteration" in r else "-"]
            for r in results]
    header = ["size", "px", "G / D / E params (M)", "precision", "channels_last", "compile", "batch", "images/s",
              "s/kimg", "images/CPU-s", "peak RSS MB", "CUDA max alloc MB", "host syncs/iteration"]
    text = (f"### Training throughput\n\n{iterations} iterations per timed round (16 = one full lazy-regularization "
            f"cycle: 1 R1 step, 4 path-length steps), {repeats} round(s) after 2 warm-up iterations; random data in "
            "memory, random small-cnn classifier, perceptual term on the classifier's features; each row in a fresh "
            "process.\n\n" + common.markdown_table(header, rows))
    adam = [common.run_isolated(adam_step_speed, size=size, device=args.device, threads=args.threads,
                                steps=10 if args.quick else 50, repeats=repeats + 1)
            for size in args.sizes["training"]]
    rows = [[r["size"], f"{r['params_m']:.2f}", r["tensors"], common.fmt_range(r["default_ms"], digits=2),
             common.fmt_range(r["fused_ms"], digits=2), common.fmt_range(r["ratio"], digits=1) + "x"] for r in adam]
    text += ("\n\nAdam step over G, D and E together (random gradients), torch's default implementation (what the "
             "training loop uses: a per-tensor loop on CPU) against the fused kernel, alternated in one process:\n\n"
             + common.markdown_table(["size", "params (M)", "tensors", "default ms", "fused ms", "speed-up"], rows))
    return {"throughput": results, "adam_step": adam}, text


def run_taylor(args) -> tuple[dict, str]:
    import tempfile

    from benchmarks.taylor_quality import taylor_quality

    candidates = [int(m) for m in args.taylor_candidates.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        r = taylor_quality(args.taylor_run, Path(args.out or tmp) / "taylor", candidates, args.taylor_images,
                           timed_images=3 if args.quick else 10, device=args.device, data=args.taylor_data)
    rows = [["exact", "-", f"{len(r['exact']['top'])} (itself)", f"{r['exact']['flip_rate']:.3f}",
             common.fmt_range(r["seconds_per_image"]["exact"], digits=3),
             common.fmt_range(r["cpu_seconds_per_image"]["exact"], digits=3), "1", "1"]]
    for m in candidates:
        t = r[f"taylor{m}"]
        rows.append([f"taylor M={m}", f"{t['computed_fraction']:.3f}", f"{t['found']} of {t['of']}",
                     f"{t['flip_rate']:.3f}", common.fmt_range(r["seconds_per_image"][f"taylor{m}"], digits=3),
                     common.fmt_range(r["cpu_seconds_per_image"][f"taylor{m}"], digits=3),
                     common.fmt_range(t["speedup_wall"], digits=1) + "x", common.fmt_range(t["speedup_cpu"], digits=1)
                     + "x"])
    header = ["method", "edits computed", "exact top-10 found", "flip rate of its top-10", "effects s/image",
              "CPU s/image", "speed-up", "speed-up (CPU time)"]
    text = (f"### Taylor-screened vs exact AttFind on a trained model\n\nModel: `{r['checkpoint']}` "
            f"(S = {r['coordinates']}); {r['num_images']} test images; selection with the default options; flip rate "
            "= `stylex.evaluate.sufficiency` of the top-10 (all changed together) on the same images. Speed: effects "
            "of one image, methods alternating over the same images. Computed effects equal the exact ones to "
            f"{max(r[f'taylor{m}']['max_abs_diff_computed'] for m in candidates):.1e}.\n\n"
            + common.markdown_table(header, rows))
    return r, text


RUNNERS = {"generator": run_generator, "attfind": run_attfind, "training": run_training, "taylor": run_taylor}


def header_block(args, info: dict, argv) -> str:
    command = "python -m benchmarks.run" + ("" if not argv else " " + " ".join(argv))
    lines = [f"## {info['date']}: {args.device}{' (quick)' if args.quick else ''}", "",
             f"Command: `{command}`", "",
             f"Machine: {info['cpu']}, {info['memory_gb']} GB; load average at start {info['load_average']}; "
             f"torch threads {info['threads']}."]
    if "gpu" in info:
        lines.append(f"GPU: {info['gpu']}, cuDNN {info['cudnn']}.")
    lines.append(f"Versions: Python {info['python']}, torch {info['torch']}, numpy {info['numpy']}.")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    info = common.machine_info(device)
    blocks, raw = [header_block(args, info, argv)], {"machine": info, "args": vars(args)}
    print(blocks[0], flush=True)
    for section in args.only:
        result, text = RUNNERS[section](args)
        raw[section] = result
        blocks.append(text)
        print("\n" + text, flush=True)
    block = "\n\n".join(blocks)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(raw, indent=2, default=str) + "\n")
        (out / "results.md").write_text(block + "\n")
    if not args.no_append:
        common.append_results(block, Path(args.results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
