"""`stylex train`: train StylEx (G, E, D) to explain a classifier."""

from __future__ import annotations

import argparse

from stylex.commands.common import (
    add_device_arg,
    add_seed_arg,
    non_negative_int,
    positive_float,
    positive_int,
    power_of_two,
)
from stylex.config import PERCEPTUAL_KINDS

HELP = "train StylEx (generator, encoder, discriminator) to explain a classifier"
DESCRIPTION = """Train StylEx on a dataset with a frozen classifier (docs/METHOD.md sections 2-3).

Writes RUN_DIR/config.json, checkpoints/, samples/, stats.jsonl and tensorboard/.
Flags left out take the value of --preset (see README: Training StylEx).

Examples:
  stylex train --data world/ --classifier smile.pt --out runs/smile --preset cpu-32 --perceptual classifier
  stylex train --data world/ --classifier smile.pt --out runs/smile --kimg 0.5 --perceptual none   # smoke run
  stylex train --out runs/smile --resume                      # continue the newest checkpoint
  torchrun --nproc_per_node 8 -m stylex train --data ... --preset paper-256   # 8 GPUs
"""

# Flags that set TrainingConfig fields: (flag, field, type, help). Default None = from the preset.
_FLAGS = [
    ("--kimg", "kimg", positive_float, "length of training in thousands of real images (fractional allowed, e.g. 0.5)"),
    ("--batch", "batch", positive_int, "total batch per optimizer step over all processes and micro-steps"),
    ("--batch-gpu", "batch_gpu", positive_int, "batch per process per micro-step (gradient accumulation "
     "when smaller than batch / processes)"),
    ("--g-lr", "g_lr", positive_float, "generator learning rate"),
    ("--d-lr", "d_lr", positive_float, "discriminator learning rate"),
    ("--e-lr", "e_lr", positive_float, "encoder learning rate"),
    ("--adv-loss", "adv_loss", str, "adversarial loss: logistic (non-saturating) or hinge"),
    ("--r1-gamma", "r1_gamma", float, "R1 regularization weight (lazy, every 16 D steps; 0 disables)"),
    ("--pl-weight", "pl_weight", float, "path-length regularization weight (lazy, every 4 G steps; 0 disables)"),
    ("--rec-l1", "rec_l1", float, "a_x: weight of the L1 reconstruction loss"),
    ("--rec-perceptual", "rec_perceptual", float, "a_p: weight of the perceptual reconstruction loss"),
    ("--rec-w", "rec_w", float, "a_w: weight of L1(E(x'), E(x))"),
    ("--cls-weight", "cls_weight", float, "weight of the classifier loss KL(C(x) || C(x'))"),
    ("--perceptual", "perceptual", str, "structure-aware reconstruction distance: ssim (structural similarity; "
     "offline, any classifier), laplacian (L1 of Laplacian-pyramid bands; offline), lpips (needs the lpips "
     "package and AlexNet weights), classifier (the explained classifier's own features: it cannot stop an "
     "invisible solution) or none"),
    ("--conditioning", "conditioning", str, "condition from the classifier: probs (softmax) or logits"),
    ("--warmup-kimg", "warmup_kimg", float, "autoencoder warm-up: the first this many kimg train only G and E "
     "on the reconstruction terms (no D, no classifier KL, no noise steps); 0 = off, the paper's method"),
    ("--style-mixing", "style_mixing", float, "probability of style mixing on noise steps"),
    ("--ema-kimg", "ema_kimg", float, "EMA half-life of G and E in thousands of images"),
    ("--ema-rampup", "ema_rampup", float, "EMA half-life at most this fraction of images seen (0 = off)"),
    ("--augment", "augment", str, "DiffAugment ops for all D inputs: comma list of translation, cutout, "
     "color, or none"),
    ("--augment-p", "augment_p", float, "probability of each augmentation op per image"),
    ("--precision", "precision", str, "fp32, bf16 or fp16 (autocast on CUDA; CPU always fp32)"),
    ("--workers", "workers", non_negative_int, "data-loading worker processes per training process"),
    ("--tick", "tick_kimg", float, "progress and stats.jsonl line every this many kimg"),
    ("--snap", "snap_kimg", float, "checkpoint every this many kimg (also at the end and on SIGINT/SIGTERM)"),
    ("--keep", "keep_checkpoints", non_negative_int, "keep the newest this many checkpoints (0 = all)"),
    ("--sample-every", "sample_every_kimg", float, "sample grid every this many kimg"),
    ("--metrics-every", "metrics_every_kimg", float, "held-out metrics every this many kimg (0 = at the end only)"),
    ("--metrics-images", "metrics_images", positive_int, "held-out images used by the metrics"),
    ("--max-bad-steps", "max_bad_steps", positive_int, "stop after this many non-finite steps in a row"),
]
_CHOICES = {
    "adv_loss": ("logistic", "hinge"), "perceptual": PERCEPTUAL_KINDS,
    "conditioning": ("probs", "logits"), "precision": ("fp32", "bf16", "fp16"),
}
_SWITCHES = [
    ("--alternate", "alternate", "alternate encoder and noise generator steps, one per optimizer step "
     "(--no-alternate: both in every step)"),
    ("--encoder-only", "encoder_only", "train the generator only on reconstructions (no noise steps)"),
    ("--channels-last", "channels_last", "channels_last memory format (CUDA)"),
    ("--tf32", "tf32", "allow TF32 matmuls/convolutions on CUDA"),
    ("--compile", "compile", "torch.compile the main forward passes"),
]
# Settings that may change when resuming (they do not change what is learned per step).
_RESUMABLE = {"kimg", "tick_kimg", "snap_kimg", "keep_checkpoints", "sample_every_kimg", "metrics_every_kimg",
              "metrics_images", "max_bad_steps", "workers"}
_RUN_FILES = ("config.json", "stats.jsonl", "checkpoints", "samples", "tensorboard")


def add_arguments(parser):
    from stylex.config import TRAINING_PRESETS
    from stylex.datasets import DATA_SPEC_HELP

    parser.add_argument("--data", help=DATA_SPEC_HELP + " (default when resuming: the run's)")
    parser.add_argument("--classifier", help="classifier file to explain (default when resuming: the run's)")
    parser.add_argument("--out", required=True, help="run directory to create (or resume)")
    parser.add_argument("--preset", default="cpu-32", choices=sorted(TRAINING_PRESETS),
                        help="network size and training schedule (default: cpu-32)")
    parser.add_argument("--resolution", type=power_of_two, help="image size (default: the preset's)")
    parser.add_argument("--discriminator", choices=("projection", "unconditional"),
                        help="D conditioning: projection (per-class scores weighted by c) or unconditional")
    for flag, field, kind, text in _FLAGS:
        parser.add_argument(flag, dest=field, type=kind, choices=_CHOICES.get(field), metavar=flag[2:].upper(),
                            help=text + " (default: from --preset)" if "default" not in text else text)
    for flag, field, text in _SWITCHES:
        parser.add_argument(flag, dest=field, action=argparse.BooleanOptionalAction, default=None,
                            help=text + " (default: from --preset)")
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


def _explicit(args) -> dict:
    """TrainingConfig fields given on the command line."""
    fields = [f for _, f, _, _ in _FLAGS] + [f for _, f, _ in _SWITCHES] + ["seed"]
    return {f: getattr(args, f) for f in fields if getattr(args, f) is not None}


def _resolve_config(args, checkpoint):
    """The run's TrainingConfig: the preset (new run) or the checkpoint's (resume), plus flags."""
    from stylex.config import TrainingConfig, from_dict, training_preset
    from stylex.errors import StylexError

    given = _explicit(args)
    if checkpoint is None:
        cfg = training_preset(args.preset)
        for field, value in given.items():
            setattr(cfg, field, value)
        if args.resolution:
            cfg.network.resolution = args.resolution
        if args.discriminator:
            cfg.network.discriminator = args.discriminator
        return cfg
    cfg = from_dict(TrainingConfig, checkpoint["config"])
    given.pop("seed", None)
    conflicts = [f for f, v in given.items() if f not in _RESUMABLE and v != getattr(cfg, f)]
    if args.resolution and args.resolution != cfg.network.resolution:
        conflicts.append("resolution")
    if args.discriminator and args.discriminator != cfg.network.discriminator:
        conflicts.append("discriminator")
    if conflicts:
        raise StylexError(
            f"--resume: {', '.join(conflicts)} differ from the run being resumed; only "
            f"{', '.join(sorted(_RESUMABLE))} may change. Start a new run (another --out) to change the others."
        )
    for field, value in given.items():
        setattr(cfg, field, value)
    return cfg


def _prepare_run_dir(out, args, is_main: bool) -> None:
    """Refuse to overwrite a run unless --resume or --force; --force deletes the old run's files."""
    import shutil
    from pathlib import Path

    from stylex.errors import StylexError

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise StylexError(f"--out {out} is a file; give a directory")
    if out.exists() and any(out.iterdir()) and not args.resume and not args.dry_run:
        if not args.force:
            raise StylexError(
                f"--out {out} already exists and is not empty; use --resume to continue it, --force to start "
                "afresh there (deletes its checkpoints, samples and logs), or choose another directory"
            )
        if is_main:
            for name in _RUN_FILES:
                target = out / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()


def run(args):
    import json
    from pathlib import Path

    from stylex.config import save_json, to_dict
    from stylex.errors import StylexError
    from stylex.runtime import check_writable_dir
    from stylex.training import checkpoint as ckpt
    from stylex.training.distributed import barrier, init_distributed, shutdown

    dist = init_distributed(args.device)
    try:
        checkpoint = None
        if args.resume:
            path = ckpt.resolve_checkpoint(args.out if args.resume == "latest" else args.resume)
            checkpoint = ckpt.load_checkpoint(path)
        cfg = _resolve_config(args, checkpoint)
        cfg.data = args.data or cfg.data
        cfg.classifier = args.classifier or cfg.classifier
        if not cfg.data or not cfg.classifier:
            raise StylexError("--data and --classifier are required for a new run")
        if cfg.perceptual == "lpips":
            from stylex.training.losses import check_lpips_available

            check_lpips_available()  # fail now, not after loading data and building networks
        from stylex.training.loop import split_batch

        split_batch(cfg, dist.world_size)  # fail now, not after loading data
        _prepare_run_dir(args.out, args, dist.is_main)

        import torch

        from stylex.classifiers import check_finite_outputs, check_num_classes, class_names_for, load_classifier
        from stylex.datasets import open_dataset

        classifier = load_classifier(cfg.classifier, dist.device, resolution=cfg.network.resolution)
        if cfg.perceptual == "classifier" and not classifier.has_features:
            raise StylexError(
                f"--perceptual classifier: {cfg.classifier} is a {classifier.kind} model whose intermediate "
                "feature maps are unknown; use --perceptual lpips or none"
            )
        if checkpoint is not None and cfg.classifier_fingerprint != classifier.fingerprint:
            raise StylexError(
                f"--classifier {cfg.classifier} is not the classifier this run was trained with (fingerprint "
                f"{classifier.fingerprint[:12]} vs {cfg.classifier_fingerprint[:12]}); pass the original file"
            )
        cfg.classifier_fingerprint = classifier.fingerprint
        cfg.network.c_dim = classifier.num_classes
        # Splits use open_dataset's default seed, like `stylex train-classifier`, so StylEx holds out
        # the same images as the classifier did.
        dataset = open_dataset(cfg.data, cfg.network.resolution, "train")
        check_num_classes(classifier, dataset.num_classes)
        cfg.class_names = class_names_for(classifier, dataset.class_names)
        first = range(min(64, len(dataset)))  # a classifier giving NaN fails here, named, not as bad steps
        check_finite_outputs(classifier, torch.stack([dataset[i][0] for i in first]), dataset.paths)
        heldout = open_dataset(cfg.data, cfg.network.resolution, args.metrics_split)
        if args.dry_run:
            if dist.is_main:
                print(json.dumps(to_dict(cfg), indent=2, sort_keys=True))
            return 0
        if dist.is_main:
            check_writable_dir(args.out, "--out")  # a read-only place fails now, not at the first checkpoint
            save_json(cfg, Path(args.out) / "config.json")
            print(f"training {len(dataset)} images ({cfg.data}), {dist.world_size} process(es) on {dist.device}; "
                  f"held-out: {len(heldout)} {args.metrics_split} images -> {args.out}")
        barrier(dist)

        from stylex.training.loop import Trainer

        trainer = Trainer(cfg, dataset, classifier, args.out, dist, heldout=heldout,
                          progress=not args.no_progress and dist.is_main)
        if checkpoint is not None:
            try:
                trainer.load_state_dict(checkpoint)
            except (RuntimeError, KeyError, ValueError) as exc:  # an edited or mixed-up checkpoint
                raise StylexError(f"--resume: checkpoint {path} does not fit the network and optimizers of its own "
                                  f"configuration ({type(exc).__name__}: {str(exc).strip().splitlines()[0][:160]}); "
                                  "resume from another checkpoint of the run") from exc
            del checkpoint
        result = trainer.train()
        if dist.is_main:
            metrics = ", ".join(f"{k.split('/', 1)[1]} {v:.4f}" for k, v in result["metrics"].items())
            state = "interrupted" if result["interrupted"] else "done"
            print(f"{state} at {result['nimg'] / 1000:.3f} kimg; checkpoint {result['checkpoint']}"
                  + (f"; held-out {metrics}" if metrics else ""))
        return 0
    finally:
        shutdown(dist)
