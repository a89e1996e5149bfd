"""Generator forward cost: FLOPs per image (counted by torch.utils.flop_counter.FlopCounterMode:
convolutions and matrix products, 2 FLOPs per multiply-add; element-wise work is not counted) and
measured time per image at batch 1 and at a larger batch, so achieved GFLOP/s can be set against
what the hardware can do.
"""

from __future__ import annotations

import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import bench_classifier, bench_generator, sample_styles, summary, time_call


def count_flops(fn) -> int:
    """FLOPs of one call of fn() as FlopCounterMode counts them."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def generator_flops(net_config) -> int:
    """FLOPs of one image's synthesis (styles given), counted on the meta device (no real work)."""
    with torch.device("meta"):
        G = net_config.build_generator()
        styles = G.styles(torch.zeros(1, G.w_dim), torch.zeros(1, G.c_dim))
        return count_flops(lambda: G.synthesis(styles))


def conv_peak_gflops(device: torch.device, repeats: int = 3) -> dict:
    """What this device's convolution reaches on a well-shaped problem: a 3x3, 128 -> 128 channel
    convolution of 16 NHWC 32x32 maps (fp32); the ceiling the achieved figures compare with."""
    x = torch.randn(16, 128, 32, 32, device=device).contiguous(memory_format=torch.channels_last)
    w = torch.randn(128, 128, 3, 3, device=device)
    flops = 2 * 16 * 32 * 32 * 128 * 128 * 9
    times = time_call(lambda: torch.nn.functional.conv2d(x, w, padding=1), device, repeats=repeats * 3, warmup=2)
    return summary([flops / t / 1e9 for t in times])


@torch.no_grad()
def generator_cost(size: str, device: str = "cpu", batch: int = 16, repeats: int = 3, timed: bool = True) -> dict:
    """FLOPs (and, with `timed`, milliseconds and GFLOP/s) of one generator forward per image.

    Args:
        size: benchmark size name (`benchmarks.networks.SIZES`).
        device: where to time it.
        batch: the larger batch size timed besides batch 1.
        repeats: timed calls per batch size.
        timed: False only counts FLOPs (cheap at any size, on the meta device).
    """
    from benchmarks.networks import network_config

    net = network_config(size)
    out = {"size": size, "resolution": net.resolution, "g_flops": generator_flops(net)}
    with torch.device("meta"):
        out["g_params_m"] = sum(p.numel() for p in net.build_generator().parameters()) / 1e6
        out["style_coordinates"] = net.build_generator().stylespace().size
    dev = torch.device(device)
    clf = bench_classifier(2, net.resolution, dev)
    out["classifier_flops"] = count_flops(lambda: clf(torch.zeros(1, 3, net.resolution, net.resolution, device=dev)))
    if not timed:
        return out
    G = bench_generator(net, dev)
    styles = sample_styles(G, batch)
    for b in (1, batch):
        sub = [s[:b] for s in styles]
        times = time_call(lambda sub=sub: G.synthesis(sub), dev, repeats=repeats)
        cpu_start = time.process_time()
        G.synthesis(sub)
        per_image = summary([t / b for t in times])
        out[f"ms_per_image_b{b}"] = {k: v * 1e3 if k != "n" else v for k, v in per_image.items()}
        out[f"gflops_b{b}"] = out["g_flops"] / per_image["median"] / 1e9
        if dev.type == "cpu":
            out[f"cpu_ms_per_image_b{b}"] = (time.process_time() - cpu_start) / b * 1e3
    out["batch"] = batch
    out["conv_peak_gflops"] = conv_peak_gflops(dev)
    return out
