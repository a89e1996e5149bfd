"""How good and how fast the Taylor-screened AttFind is on a trained model, against the exact one.

Runs `stylex attfind` on the same images with `--method exact` and with `--method taylor
--candidates M` for each M, then reports for each M:

- how many of the exact top-k attributes (coordinate, direction) the Taylor selection also has;
- the flip rate of its top-k (`stylex.evaluate.sufficiency`, on the same images, rendered by the
  same generator and classifier) next to the exact top-k's;
- its speed-up over the exact batched path: per-image effects time, both methods on the same
  images in alternation (wall and CPU seconds);
- a check that its computed effects equal the exact ones (max absolute difference).
"""

from __future__ import annotations

import contextlib
import io
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import summary


def _attfind(run: str, out: Path, method: str, num_images: int, device: str, data: str | None, seed: int,
             candidates: int | None = None) -> float:
    """One `stylex attfind` run (its printout swallowed); returns its wall seconds."""
    from stylex.cli import main

    args = ["attfind", "--run", run, "--out", str(out), "--num-images", str(num_images), "--device", device,
            "--seed", str(seed), "--method", method, "--no-progress", "--overwrite"]
    args += ["--data", data] if data else []
    args += ["--candidates", str(candidates)] if candidates else []
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(args)
    if code:
        raise RuntimeError(f"stylex {' '.join(args)} exited with {code}")
    return time.perf_counter() - start


def _top(selection, top_k: int) -> list[tuple[int, int]]:
    return [(a.coordinate, a.direction) for a in selection.attributes[:top_k]]


@torch.no_grad()
def _effects_times(ctx, candidates: list[int], images: int) -> dict:
    """Per-image wall and CPU seconds of the exact and Taylor effects on the first `images` records
    images, the methods alternating image by image so both see the same machine load."""
    from stylex.attfind.effects import EditSpec, ExactEffects
    from stylex.attfind.taylor import TaylorEffects

    rec, G, clf, device = ctx.records, ctx.G, ctx.classifier, ctx.device
    space, full = rec.space, rec.full_space
    s_min = torch.from_numpy(rec.style_min).to(device)
    s_max = torch.from_numpy(rec.style_max).to(device)
    spec = EditSpec(space, s_min, s_max, rec.shift)
    # A new method object per image: batch measured per call (`auto_batch`), as before.
    runs = {"exact": lambda st: ExactEffects().effects(G, clf, st, spec)}
    for m in candidates:
        runs[f"taylor{m}"] = lambda st, m=m: TaylorEffects(candidates=m).effects(G, clf, st, spec)
    wall = {k: [] for k in runs}
    cpu = {k: [] for k in runs}
    for i in range(min(images, rec.num_images) + 1):
        styles = full.unflatten(torch.from_numpy(rec.styles[i : i + 1]).to(device))
        for name, fn in runs.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn(styles)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i:  # image 0 warms up
                wall[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)
    return {"wall": wall, "cpu": cpu}


def taylor_quality(run: str, out_dir: str | Path, candidates=(8, 16, 32), num_images: int = 100,
                   timed_images: int = 10, top_k: int = 10, device: str = "cpu", data: str | None = None,
                   seed: int = 0) -> dict:
    """Compare Taylor-screened AttFind with the exact one on a trained run.

    Args:
        run: training run directory (or checkpoint) to explain.
        out_dir: where the records and attributes files go (one folder per method).
        candidates: the Taylor candidates per class to try.
        num_images: images analysed (test split, as `stylex attfind` samples them).
        timed_images: images the per-image timing uses.
        top_k: attributes compared and changed together for the flip rate.
        device, data, seed: as `stylex attfind`'s --device, --data, --seed.
    """
    from stylex.attfind import attributes_path, load_context, load_records, load_selection
    from stylex.evaluate import base_predictions, sufficiency

    out_dir = Path(out_dir)
    exact_path = out_dir / "exact" / "records.h5"
    out = {"run": str(run), "num_images": num_images, "top_k": top_k, "device": device, "seed": seed,
           "command_seconds": {"exact": _attfind(run, exact_path, "exact", num_images, device, data, seed)}}
    paths = {}
    for m in candidates:
        paths[m] = out_dir / f"taylor{m}" / "records.h5"
        out["command_seconds"][f"taylor{m}"] = _attfind(run, paths[m], "taylor", num_images, device, data, seed, m)
    ctx = load_context(exact_path, device)
    out["checkpoint"] = ctx.records.meta.get("checkpoint")
    out["coordinates"] = ctx.records.space.size
    editor = ctx.editor()
    predicted = base_predictions(editor)
    exact_top = _top(ctx.selection, top_k)
    out["exact"] = {"top": exact_top, "flip_rate": sufficiency(editor, ctx.selection, top_k, predicted)["flip_rate"]}
    times = _effects_times(ctx, list(candidates), timed_images)
    out["seconds_per_image"] = {k: summary(v) for k, v in times["wall"].items()}
    out["cpu_seconds_per_image"] = {k: summary(v) for k, v in times["cpu"].items()}
    for m in candidates:
        records = load_records(paths[m])
        selection = load_selection(attributes_path(paths[m]))
        computed = records.computed.astype(bool)
        top = _top(selection, top_k)
        name = f"taylor{m}"
        out[name] = {
            "candidates": m,
            "top": top,
            "found": len(set(top) & set(exact_top)),
            "of": len(exact_top),
            "flip_rate": sufficiency(editor, selection, top_k, predicted)["flip_rate"],
            "computed_fraction": float(computed.mean()),
            "max_abs_diff_computed": float(np.abs(records.effect - ctx.records.effect)[computed].max()),
            "speedup_wall": summary([e / t for e, t in zip(times["wall"]["exact"], times["wall"][name])]),
            "speedup_cpu": summary([e / t for e, t in zip(times["cpu"]["exact"], times["cpu"][name])]),
        }
    return out
