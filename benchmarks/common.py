"""What every benchmark shares: the machine description, timing with repeats, peak memory,
isolated child processes, the models benchmarks run on, and the RESULTS.md writer.

Timings on a shared machine drift with the load, so every figure is taken `repeats` times and
reported as median and range, and comparisons (reference vs batched) are made inside one run.
"""

from __future__ import annotations

import datetime
import multiprocessing
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

RESULTS = Path(__file__).with_name("RESULTS.md")


# -- the machine ------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: torch.device) -> dict:
    """Hardware and software a reader needs to compare figures across runs."""
    import numpy

    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{_cpu_model()}, {os.cpu_count()} logical cores",
        "threads": torch.get_num_threads(),
        "load_average": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "device": str(device),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["gpu"] = f"{props.name}, {props.total_memory / 2**30:.0f} GiB, CUDA {torch.version.cuda}"
        info["cudnn"] = str(torch.backends.cudnn.version())
    return info


# -- timing -----------------------------------------------------------------------------------


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device, repeats: int = 3, warmup: int = 1) -> list[float]:
    """Wall seconds of `repeats` calls of fn after `warmup` untimed ones (device work included)."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def summary(values: list[float]) -> dict:
    """Median and range of repeated measurements."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def fmt_range(stats: dict, scale: float = 1.0, digits: int = 2) -> str:
    """`median (min-max)` of a `summary`, multiplied by `scale`; just the value for one repeat."""
    med = f"{stats['median'] * scale:.{digits}f}"
    if stats["n"] == 1:
        return med
    return f"{med} ({stats['min'] * scale:.{digits}f}-{stats['max'] * scale:.{digits}f})"


def invert(stats: dict, numerator: float = 1.0) -> dict:
    """numerator / x of a `summary` (a time becomes a rate; the range flips)."""
    return {"median": numerator / stats["median"], "min": numerator / stats["max"],
            "max": numerator / stats["min"], "n": stats["n"]}


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(queue, threads, fn, args, kwargs):
    if threads:
        torch.set_num_threads(threads)
    try:
        queue.put(("ok", fn(*args, **kwargs)))
    except BaseException as exc:  # report any failure to the parent instead of hanging it
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def run_isolated(fn: Callable[..., dict], *args, threads: int = 0, **kwargs) -> dict:
    """Run fn(*args, **kwargs) in a fresh process (its peak RSS and CUDA peak are its own) and
    return its dict. fn must be a module-level function; `threads` sets torch's thread count."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, threads, fn, args, kwargs))
    proc.start()
    status, value = queue.get()
    proc.join()
    if status != "ok":
        raise RuntimeError(f"benchmark child {fn.__name__} failed: {value}")
    return value


# -- models -----------------------------------------------------------------------------------


def bench_generator(net_config, device, seed: int = 0):
    """A generator of the given network config with random weights and non-zero biases and noise
    strengths (so every part of each layer does work), in eval mode on `device`."""
    torch.manual_seed(seed)
    G = net_config.build_generator()
    for layer in G.layers:
        layer.bias.data.normal_(0, 0.3)
        if hasattr(layer, "noise_strength"):
            layer.noise_strength.data.fill_(0.1)
    return G.to(device).eval().requires_grad_(False)


def bench_classifier(num_classes: int, resolution: int, device, arch: str = "small-cnn", seed: int = 0):
    """A random-weight classifier wrapped as the pipeline uses it (FrozenClassifier)."""
    from stylex.classifiers import FrozenClassifier, build_classifier, default_input_size, default_normalization

    torch.manual_seed(seed)
    net = build_classifier(arch, num_classes)
    net.head.weight.data *= 10 if arch == "small-cnn" else 1  # logits that react to edits
    clf = FrozenClassifier(net, class_names=[str(i) for i in range(num_classes)],
                           input_size=default_input_size(arch, resolution), normalization=default_normalization(arch))
    return clf.to(device)


def sample_styles(G, num_images: int, seed: int = 0) -> list[torch.Tensor]:
    """Per-layer styles of `num_images` random images (random z, random soft conditions)."""
    gen = torch.Generator().manual_seed(seed)
    device = G.const.device
    z = torch.randn(num_images, G.z_dim, generator=gen).to(device)
    c = torch.softmax(torch.randn(num_images, G.c_dim, generator=gen) * 2, dim=1).to(device)
    with torch.no_grad():
        return G.styles(G.mapping(z), c)


# -- RESULTS.md -------------------------------------------------------------------------------


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def append_results(text: str, path: Path = RESULTS) -> None:
    """Append one dated block to a results file (RESULTS.md by default; created with a title if missing)."""
    if not path.exists():
        path.write_text("# Benchmark results\n\nAppended by `python -m benchmarks.run`; newest last.\n")
    with open(path, "a") as f:
        f.write("\n" + text.rstrip() + "\n")
