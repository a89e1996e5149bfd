"""AttFind Step A speed: the reference loop (one coordinate at a time, batch 1), the batched cached
exact path and the Taylor-screened path, on the same model and images, in one run.

Figures per image: seconds (wall and, on CPU, CPU seconds, which a loaded machine disturbs less)
and coordinate evaluations per second (2S edits / seconds), the ratios of the paths within each
repeat, and the FLOPs each path does (FlopCounterMode) with the GFLOP/s they achieve.
`reference_passes` times the reference on only its first coordinates and scales to all of them:
every reference pass is one full batch-1 render + classification whatever the coordinate, so its
time is linear in the number of passes (1 + 2S).
"""

from __future__ import annotations

import time

import torch

from benchmarks.common import bench_classifier, bench_generator, sample_styles, summary, synchronize
from benchmarks.generator import count_flops
from stylex.attfind.effects import EditSpec, ExactEffects, ReferenceEffects, auto_batch
from stylex.attfind.taylor import DEFAULT_CANDIDATES, TaylorEffects
from stylex.stylespace import StyleSpace


class FirstCoordinates(StyleSpace):
    """The same StyleSpace with `size` cut to its first n coordinates (what the reference loop
    visits); flatten and edit still work on the full vectors."""

    def __init__(self, space: StyleSpace, n: int):
        super().__init__(space.layers, space.include_torgb)
        self.full = space
        self.size = min(n, space.size)

    def edit(self, *args, **kwargs):
        return self.full.edit(*args, **kwargs)


def _timed(fn, device) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one call."""
    synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    synchronize(device)
    return time.perf_counter() - wall, time.process_time() - cpu


@torch.no_grad()
def precision_agreement(G, clf, pool: list[torch.Tensor], space, s_min, s_max, batch: int, images: int = 8,
                        top_k: int = 10) -> dict:
    """Effects of `images` images in fp32 and in bf16, the largest difference, and how many of the
    fp32 selection's top-k attributes the bf16 selection keeps (default selection options)."""
    from stylex.attfind.selection import select_attributes

    effects = {p: [] for p in ("fp32", "bf16")}
    spec = EditSpec(space, s_min, s_max)
    predicted = []
    for i in range(min(images, pool[0].shape[0])):
        st = [s[i : i + 1] for s in pool]
        predicted.append(int(clf(G.synthesis(st)).argmax()))
        for p in effects:
            effects[p].append(ExactEffects(batch, p).effects(G, clf, st, spec).effect.cpu())
    fp32, bf16 = (torch.stack(effects[p]).numpy() for p in ("fp32", "bf16"))
    tops = [[(a.coordinate, a.direction) for a in select_attributes(e, predicted).attributes[:top_k]]
            for e in (fp32, bf16)]
    return {"images": len(predicted), "max_abs_diff": float(abs(fp32 - bf16).max()),
            "max_abs_effect": float(abs(fp32).max()), "top_k": len(tops[0]),
            "kept": len(set(tops[0]) & set(tops[1]))}


@torch.no_grad()
def attfind_speed(size: str, device: str = "cpu", images: int = 1, repeats: int = 2,
                  reference_passes: int | None = None, candidates: int = DEFAULT_CANDIDATES,
                  precision: str = "fp32", batch: int | None = None, count: bool = True, seed: int = 0) -> dict:
    """Time the three paths on `images` images of a random-weight generator of a benchmark size.

    Args:
        size: benchmark size name (`benchmarks.networks.SIZES`).
        device: `cpu` or `cuda`.
        images: images timed per repeat (each path does the same images).
        repeats: rounds; ratios are taken within a round.
        reference_passes: time the reference on this many passes per image and scale (None: all).
        candidates: Taylor candidates per class.
        precision: `fp32` or `bf16` (batched and Taylor paths on CUDA).
        batch: edited images per call (None: `auto_batch`).
        count: also count each path's FLOPs (one extra untimed run of each).
        With bf16, the result also holds `precision_agreement` on the first 8 pooled images (4 above 64 px).
        seed: the random model and images.
    """
    from benchmarks.networks import network_config

    dev = torch.device(device)
    net = network_config(size)
    G = bench_generator(net, dev, seed)
    clf = bench_classifier(2, net.resolution, dev, seed=seed)
    space = G.stylespace()
    pool = sample_styles(G, max(16, images), seed)  # the min/max come from 16 images, as in a small run
    flat = space.flatten(pool)
    s_min, s_max = flat.min(0).values, flat.max(0).values
    one = [[s[i : i + 1] for s in pool] for i in range(images)]
    batch = batch or auto_batch(G, clf, one[0])
    passes = 1 + 2 * space.size
    ref_space = FirstCoordinates(space, (reference_passes - 1) // 2) if reference_passes else space
    ref_scale = passes / (1 + 2 * ref_space.size)

    spec = EditSpec(space, s_min, s_max)
    methods = {"reference": ReferenceEffects(), "batched": ExactEffects(batch, precision),
               "taylor": TaylorEffects(candidates, batch, precision)}
    specs = {"reference": EditSpec(ref_space, s_min, s_max), "batched": spec, "taylor": spec}
    paths = {k: (lambda st, k=k: methods[k].effects(G, clf, st, specs[k])) for k in methods}
    # Warm-up (one-time allocations, oneDNN / cuDNN kernel choice); the reference on a few coordinates.
    ReferenceEffects().effects(G, clf, one[0], EditSpec(FirstCoordinates(space, 4), s_min, s_max))
    paths["batched"](one[0])
    paths["taylor"](one[0])
    wall = {k: [] for k in paths}
    cpu = {k: [] for k in paths}
    for _ in range(repeats):
        for name, fn in paths.items():
            w = c = 0.0
            for st in one:
                dw, dc = _timed(lambda fn=fn, st=st: fn(st), dev)
                w, c = w + dw, c + dc
            scale = ref_scale if name == "reference" else 1.0
            wall[name].append(w * scale / images)
            cpu[name].append(c * scale / images)
    out = {"size": size, "resolution": net.resolution, "device": device, "coordinates": space.size,
           "edits_per_image": 2 * space.size, "images": images, "repeats": repeats, "batch": batch,
           "candidates": candidates, "precision": precision, "reference_passes_timed": 1 + 2 * ref_space.size,
           "seconds_per_image": {k: summary(v) for k, v in wall.items()},
           "coord_evals_per_s": {k: summary([2 * space.size / t for t in v]) for k, v in wall.items()}}
    out["ratio_batched_vs_reference"] = summary([r / b for r, b in zip(wall["reference"], wall["batched"])])
    out["ratio_taylor_vs_batched"] = summary([b / t for b, t in zip(wall["batched"], wall["taylor"])])
    if dev.type == "cpu":
        out["cpu_seconds_per_image"] = {k: summary(v) for k, v in cpu.items()}
        out["cpu_ratio_batched_vs_reference"] = summary([r / b for r, b in zip(cpu["reference"], cpu["batched"])])
        out["cpu_ratio_taylor_vs_batched"] = summary([b / t for b, t in zip(cpu["batched"], cpu["taylor"])])
    if precision == "bf16":
        out["bf16_vs_fp32"] = precision_agreement(G, clf, pool, space, s_min, s_max, batch,
                                                  images=8 if net.resolution <= 64 else 4)
    if count:
        pass_flops = count_flops(lambda: clf(G.synthesis(one[0])))
        out["gflop_per_image"] = {
            "reference": pass_flops * passes / 1e9,
            "batched": count_flops(lambda: paths["batched"](one[0])) / 1e9,
            "taylor": count_flops(lambda: paths["taylor"](one[0])) / 1e9,
        }
        out["achieved_gflops"] = {k: out["gflop_per_image"][k] / wall[k][-1] for k in paths}
    return out
