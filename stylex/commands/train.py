"""`stylex train`: train StylEx (G, E, D) to explain a classifier."""

from __future__ import annotations

import argparse

from stylex.commands.common import (
    add_device_arg,
    add_seed_arg,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    power_of_two,
    share,
)

HELP = "train StylEx (generator, encoder, discriminator) to explain a classifier"
DESCRIPTION = """Train StylEx on a dataset with a frozen classifier (docs/METHOD.md sections 2-3).

Writes RUN_DIR/config.json, checkpoints/, samples/, stats.jsonl and tensorboard/.
Flags left out take the value of --preset (see README: Training StylEx).

Examples:
  stylex train --data world/ --classifier smile.pt --out runs/smile --preset cpu-32
  stylex train --data world/ --classifier smile.pt --out runs/smoke --kimg 0.5 --warmup-kimg 0.2   # smoke run
  stylex train --out runs/smile --resume                      # continue the newest checkpoint
  torchrun --nproc_per_node 8 -m stylex train --data ... --preset paper-256   # 8 GPUs
"""

_TYPES = {(float, "positive"): positive_float, (int, "positive"): positive_int,
          (int, "non_negative"): non_negative_int, (int, "resolution"): power_of_two,
          (float, "non_negative"): non_negative_float, (float, "share"): share,
          (float, None): float, (int, None): int, (str, None): str}


def _preset_values(name: str, network: bool = False) -> str:
    """ "(cpu-32: 10; repro-64: 1; paper-256: 1)": what each preset gives a field (of NetworkConfig
    when `network`, else of TrainingConfig)."""
    from stylex.config import PRESETS

    values = {p: getattr(p_obj.network, name) if network else p_obj.value(name) for p, p_obj in PRESETS.items()}
    shown = {p: ("none" if v == "" else f"{v:g}" if isinstance(v, float) else str(v)) for p, v in values.items()}
    if len(set(shown.values())) == 1:
        return f"(every preset: {next(iter(shown.values()))})"
    return "(" + "; ".join(f"{p}: {v}" for p, v in shown.items()) + ")"


def _config_flags():
    """(flag, field) of every TrainingConfig field with a `stylex train` flag."""
    from stylex.config import training_fields

    return [(f.metadata["flag"], f) for f in training_fields() if f.metadata.get("flag")]


def _network_flags():
    """(flag, field) of every NetworkConfig field with a `stylex train` flag."""
    from stylex.config import network_fields

    return [(f.metadata["flag"], f) for f in network_fields() if f.metadata.get("flag")]


def _add_config_flag(parser, flag: str, f, presets: str) -> None:
    """The flag of config field `f`, built from its metadata; no default, so that a flag left out
    keeps the preset's (or the resumed run's) value."""
    text = f"{f.metadata['help']} {presets}"
    if f.type in ("bool", bool):
        parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=text)
        return
    kind = _TYPES[({"float": float, "int": int, "str": str}.get(f.type, f.type), f.metadata.get("check"))]
    parser.add_argument(flag, dest=f.name, type=kind, choices=f.metadata.get("choices"),
                        metavar=flag[2:].upper(), help=text)


def add_arguments(parser):
    from stylex.config import PRESETS
    from stylex.datasets import DATA_SPEC_HELP

    parser.add_argument("--data", help=DATA_SPEC_HELP + " (default when resuming: the run's)")
    parser.add_argument("--classifier", help="classifier file to explain (default when resuming: the run's)")
    parser.add_argument("--out", required=True, help="run directory to create (or resume)")
    parser.add_argument("--preset", default="cpu-32", choices=sorted(PRESETS),
                        help="network size and training schedule (default: cpu-32)")
    for flag, f in _network_flags():
        _add_config_flag(parser, flag, f, _preset_values(f.name, network=True))
    for flag, f in _config_flags():
        _add_config_flag(parser, flag, f, _preset_values(f.name))
    parser.add_argument("--metrics-split", default="val", choices=("val", "test"),
                        help="held-out split for metrics and sample grids (default: val)")
    parser.add_argument("--resume", nargs="?", const="latest", metavar="CHECKPOINT",
                        help="continue a run: the newest checkpoint in --out, or the given checkpoint file")
    parser.add_argument("--force", action="store_true",
                        help="start afresh in an existing run directory (deletes its checkpoints, samples, logs)")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved configuration and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_device_arg(parser)
    add_seed_arg(parser)


def request_from(args):
    """The TrainRequest of the parsed flags (settings: only the flags given, and the seed)."""
    from stylex.api import TrainRequest

    names = [f.name for _, f in _network_flags() + _config_flags()] + ["seed"]
    settings = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    return TrainRequest(out=args.out, data=args.data, classifier=args.classifier, preset=args.preset,
                        settings=settings, resume=args.resume, force=args.force, dry_run=args.dry_run,
                        metrics_split=args.metrics_split, device=args.device, progress=not args.no_progress)


def run(args):
    import json

    from stylex import api
    from stylex.config import to_dict

    result = api.train(request_from(args))
    if not result.main_process:
        return 0
    if result.dry_run:
        print(json.dumps(to_dict(result.config), indent=2, sort_keys=True))
        return 0
    metrics = ", ".join(f"{k.split('/', 1)[1]} {v:.4f}" for k, v in result.metrics.items())
    state = "interrupted" if result.interrupted else "done"
    print(f"{state} at {result.nimg / 1000:.3f} kimg; checkpoint {result.checkpoint}"
          + (f"; held-out {metrics}" if metrics else ""))
    return 0
