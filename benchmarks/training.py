"""Training throughput: images/s, s/kimg and peak memory of `stylex.training.loop.Trainer`.

One timed round is `iterations` full iterations (G step, D step, the lazy path-length and R1
steps at their intervals, EMA), after `warmup` untimed ones; with the default 16 iterations a
round holds one R1 step and four path-length steps, as a long run does. Data are random images
held in memory (data loading is not measured) and the classifier is a random small-cnn; the
perceptual term uses the classifier's features (LPIPS needs downloaded weights).
Run it in a fresh process (`common.run_isolated`) so peak RSS and CUDA peak memory are its own.
"""

from __future__ import annotations

import tempfile
import time
import warnings

import torch

from benchmarks.common import bench_classifier, peak_rss_mb, summary, synchronize


class RandomImages(torch.utils.data.Dataset):
    """`size` random [-1, 1] images with random binary labels, made once (a Dataset of (image, label))."""

    def __init__(self, size: int, resolution: int, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        self.images = torch.rand(size, 3, resolution, resolution, generator=gen) * 2 - 1
        self.labels = torch.randint(0, 2, (size,), generator=gen)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])


def training_speed(size: str, device: str = "cpu", precision: str = "fp32", channels_last: bool = False,
                   compile: bool = False, batch: int | None = None, iterations: int = 16, warmup: int = 2,
                   repeats: int = 2) -> dict:
    """Measure training at one benchmark size (see `benchmarks.networks.SIZES`).

    Args:
        size: benchmark size name, e.g. `cpu-32`.
        device: `cpu` or `cuda`.
        precision, channels_last, compile: the TrainingConfig speed options.
        batch: images per optimizer step (None: the preset's).
        iterations: iterations per timed round; warmup: untimed iterations first.
        repeats: timed rounds.
    Returns: a dict of the settings, images/s and s/kimg (median and range over rounds), wall and
    CPU seconds per round, images per CPU-second (steadier than wall time on a loaded machine), the
    process's peak RSS (MB) and, on CUDA, max allocated memory (MB) and host syncs per iteration.
    """
    from benchmarks.networks import training_config
    from stylex.training.distributed import DistInfo
    from stylex.training.loop import Trainer

    dev = torch.device(device)
    overrides = dict(precision=precision, channels_last=channels_last, compile=compile, perceptual="classifier",
                     workers=0)
    if batch:
        overrides["batch"] = batch
    cfg = training_config(size, **overrides)
    res = cfg.network.resolution
    data = RandomImages(max(64, 4 * cfg.batch), res)
    classifier = bench_classifier(2, res, dev)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(cfg, data, classifier, run_dir, DistInfo(device=dev), progress=False)
        for _ in range(warmup):
            trainer.iteration()
        synchronize(dev)
        syncs = count_syncs(trainer) if dev.type == "cuda" else None
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        rounds, cpu = [], []
        for _ in range(repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(iterations):
                trainer.iteration()
            synchronize(dev)
            rounds.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    images = iterations * cfg.batch
    rate = summary([images / t for t in rounds])
    per_kimg = summary([t * 1000 / images for t in rounds])
    out = {"size": size, "resolution": res, "device": device, "precision": precision,
           "channels_last": channels_last, "compile": compile, "batch": cfg.batch, "iterations": iterations,
           "images_per_s": rate, "s_per_kimg": per_kimg, "round_s": rounds, "round_cpu_s": cpu,
           "images_per_cpu_s": summary([images / t for t in cpu]), "peak_rss_mb": peak_rss_mb(),
           "g_params_m": sum(p.numel() for p in trainer.G.parameters()) / 1e6,
           "d_params_m": sum(p.numel() for p in trainer.D.parameters()) / 1e6,
           "e_params_m": sum(p.numel() for p in trainer.E.parameters()) / 1e6}
    if dev.type == "cuda":
        out["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated(dev) / 2**20
        out["host_syncs_per_iteration"] = syncs
    return out


def adam_step_speed(size: str, device: str = "cpu", steps: int = 50, repeats: int = 3) -> dict:
    """One Adam step over all of G, D and E (random gradients): torch's default implementation, which
    the training loop uses (`stylex.training.loop._adam`; a per-tensor loop on CPU, the foreach
    form on CUDA), against torch's fused kernel, alternated
    within this process so that both see the same machine load. (The fused kernel's updates differ
    from the loop's in the last bit, so switching would change every documented run's figures;
    RESULTS.md, note 6.)

    Returns: the settings, ms per step of each (median and range over `repeats` rounds of `steps`
    steps), and the per-round ratio default / fused.
    """
    from benchmarks.networks import training_config

    dev = torch.device(device)
    net = training_config(size).network
    params = [p for m in (net.build_generator(), net.build_discriminator(), net.build_encoder())
              for p in m.to(dev).parameters()]
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    optimizers = {"default": torch.optim.Adam(params, lr=1e-4),
                  "fused": torch.optim.Adam(params, lr=1e-4, fused=True)}
    ms: dict[str, list[float]] = {name: [] for name in optimizers}
    for opt in optimizers.values():  # the first steps allocate the state
        opt.step()
    for _ in range(repeats):
        for name, opt in optimizers.items():
            synchronize(dev)
            start = time.perf_counter()
            for _ in range(steps):
                opt.step()
            synchronize(dev)
            ms[name].append(1000 * (time.perf_counter() - start) / steps)
    return {"size": size, "device": device, "params_m": sum(p.numel() for p in params) / 1e6, "tensors": len(params),
            "default_ms": summary(ms["default"]), "fused_ms": summary(ms["fused"]),
            "ratio": summary([a / b for a, b in zip(ms["default"], ms["fused"])])}


def count_syncs(trainer, iterations: int = 4) -> float:
    """Host-device synchronisations per training iteration on CUDA, as torch's sync debug mode
    reports them (the loop's non-finite check makes one per optimizer step by design)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(iterations):
                trainer.iteration()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught) / iterations
