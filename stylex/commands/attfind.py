"""`stylex attfind`: AttFind records for N images, then the attribute selection.

Sub-actions: `stylex attfind select` re-runs the selection with other options; `stylex attfind
merge` merges the shard files of an interrupted sharded run by hand.
"""

from __future__ import annotations

from pathlib import Path

from stylex.commands.common import add_device_arg, add_seed_arg, non_negative_int, positive_float, positive_int, share

HELP = "find the StyleSpace attributes that drive the classifier (AttFind records + selection)"
DESCRIPTION = """AttFind (docs/METHOD.md section 4). Step A renders every image with every style
coordinate moved to its minimum and maximum and records the classifier's logits (records.h5,
resumable: re-run the same command after an interruption). Steps B-E then select the attributes
and write attributes.json beside the records.

Examples:
  stylex attfind --run runs/smile --data world/ --num-images 250 --out runs/smile/attfind/records.h5
  stylex attfind select --records runs/smile/attfind/records.h5 --top-k 5 --mode one-vs-one
  torchrun --nproc_per_node 4 -m stylex attfind --checkpoint runs/smile --data world/ --out records.h5
      (under torchrun give the run with --checkpoint: torchrun takes --run for its own --run-path)
  stylex attfind merge --out records.h5 records.shard0-of-4.h5 records.shard1-of-4.h5 ...
"""


def add_selection_arguments(parser) -> None:
    """Options of Steps B-E (shared by `attfind` and `attfind select`)."""
    from stylex.attfind.selection import MODES, SelectionOptions

    d = SelectionOptions()
    g = parser.add_argument_group("selection (Steps B-E)")
    g.add_argument("--top-k", type=positive_int, default=d.top_k,
                   help=f"attributes per greedy search (default {d.top_k})")
    g.add_argument("--threshold", type=float, default=d.threshold,
                   help=f"t: logit change that counts as moving an image (default {d.threshold})")
    g.add_argument("--flip-factor", type=float, default=d.flip_factor,
                   help=f"an image stops steering the search after pushes of flip_factor * t (default {d.flip_factor})")
    g.add_argument("--mode", choices=MODES, default=d.mode,
                   help="binary (2 classes), one-vs-all or one-vs-one (default auto: binary for 2 classes)")
    g.add_argument("--no-unstable-filter", dest="unstable_filter", action="store_false",
                   help="keep images that react to very many edits (Step B filter off)")
    limit = g.add_mutually_exclusive_group()
    limit.add_argument("--unstable-share", type=share, default=d.unstable_share, metavar="SHARE",
                       help="Step B: an image with large effects in more than this share of its 2 x S x classes "
                            f"entries is zeroed (default {d.unstable_share:.4f}: the authors' 750 of 2 x 5760 x 2)")
    limit.add_argument("--unstable-count", type=non_negative_int, default=None, metavar="COUNT",
                       help="Step B: an absolute number of large entries instead of --unstable-share (the authors "
                            "used 750 at 5760 coordinates and 2 classes)")
    g.add_argument("--unstable-logit", type=float, default=d.unstable_logit,
                   help=f"Step B: an effect is large above this many logits (default {d.unstable_logit})")
    g.add_argument("--discriminator-filter", type=float, default=None, metavar="LIMIT",
                   help="reject a candidate if any of the first 10 images it moves by more than t changes D's "
                        "output by more than LIMIT, D conditioned on the classifier's probabilities of the edited "
                        "image and the edit made with shift 2 (the authors use 0.2; off by default; needs records "
                        "made with --discriminator-score)")


def _selection_options(args):
    from stylex.attfind.selection import SelectionOptions

    return SelectionOptions(top_k=args.top_k, threshold=args.threshold, flip_factor=args.flip_factor,
                            unstable_filter=args.unstable_filter, unstable_share=args.unstable_share,
                            unstable_count=args.unstable_count, unstable_logit=args.unstable_logit, mode=args.mode,
                            discriminator_limit=args.discriminator_filter)


def add_arguments(parser):
    from stylex.datasets import DATA_SPEC_HELP

    sub = parser.add_subparsers(dest="action", metavar="[select|merge]")
    select = sub.add_parser("select", help="re-run the attribute selection of a records file with other options",
                            description="Re-run Steps B-E on a records file; writes attributes.json beside it.")
    select.add_argument("--records", required=True, help="records file written by `stylex attfind`")
    select.add_argument("--out", help="attributes file to write (default: attributes.json beside the records)")
    add_selection_arguments(select)
    merge = sub.add_parser("merge", help="merge the shard files of a sharded run",
                           description="Merge shard files of one `stylex attfind` run into one records file.")
    merge.add_argument("--out", required=True, help="merged records file to write")
    merge.add_argument("shards", nargs="+", help="shard files (records.shardR-of-W.h5)")

    source = parser.add_mutually_exclusive_group()
    source.add_argument("--run", help="training run directory (its newest checkpoint is used)")
    source.add_argument("--checkpoint", help="training checkpoint file (or a run directory, like --run)")
    parser.add_argument("--data", help=DATA_SPEC_HELP + " (default: the run's training data)")
    parser.add_argument("--split", default="test", choices=("train", "val", "test", "all"),
                        help="dataset split the images come from (default: test, the held-out one; for a world "
                             "with a shortcut it is the shortcut-broken split)")
    parser.add_argument("--classifier", help="classifier file (default: the one the run was trained with)")
    parser.add_argument("--num-images", type=positive_int, default=250,
                        help="images to analyse, a seeded random sample of the split (default 250)")
    parser.add_argument("--out", help="records file to write or resume (e.g. runs/x/attfind/records.h5)")
    parser.add_argument("--batch", type=positive_int, default=None,
                        help="edited images rendered per call (default: 64 at 32 px on CPU; on CUDA what fits in "
                             "40%% of the free memory; lower it if memory runs out)")
    parser.add_argument("--method", choices=("exact", "taylor"), default="exact",
                        help="exact: render every edit; taylor: estimate every edit to first order (one backward "
                             "pass per image) and render only the top --candidates per class, much faster (the "
                             "others keep their estimate) (default exact)")
    parser.add_argument("--candidates", type=positive_int, default=None,
                        help="with --method taylor: edits computed exactly per class and image (default 8, "
                             "stylex.attfind.taylor.DEFAULT_CANDIDATES)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="bf16: autocast the edited renders on CUDA (faster; effects good to about "
                             "1%%); ignored on CPU (default fp32)")
    parser.add_argument("--shift", type=positive_float, default=1.0,
                        help="how far a coordinate moves toward its extreme: 1 = all the way (default 1)")
    parser.add_argument("--include-torgb", action="store_true",
                        help="also analyse the toRGB style coordinates (default: modulated convs only)")
    parser.add_argument("--discriminator-score", action="store_true",
                        help="also record how each edit, made with shift 2, changes D's output, D conditioned on "
                             "the classifier's probabilities of the image it scores (for --discriminator-filter)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing records file made with other settings")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_device_arg(parser)
    add_seed_arg(parser)
    add_selection_arguments(parser)


def run(args):
    if args.action == "select":
        return _select(Path(args.records), args.out, _selection_options(args))
    if args.action == "merge":
        return _merge(args)
    return _attfind(args)


def _select(records_path: Path, out, options) -> int:
    from stylex.attfind import attributes_path, load_records, save_selection, select_from_records

    records = load_records(records_path)
    _check_top_k(options.top_k, records.space.size)
    selection = select_from_records(records, options)
    path = save_selection(selection, out or attributes_path(records_path), records_path=records_path.name)
    print(f"{len(selection.attributes)} attributes ({selection.mode}; {len(selection.unstable)} unstable images "
          f"ignored) -> {path}")
    for a in selection.attributes[:10]:
        print(f"  #{a.rank:<3d} {a.name:<18s} {'to max' if a.direction else 'to min'} -> "
              f"{selection.class_names[a.toward_class]:<12s} score {a.score:+.3f}  moves {a.images_moved} images")
    return 0


def _check_top_k(top_k: int, size: int) -> None:
    """--top-k cannot exceed the analysed coordinates; checked before any long work."""
    from stylex.errors import StylexError

    if top_k > size:
        raise StylexError(f"--top-k {top_k} is more than the {size} style coordinates analysed; "
                          f"use at most {size} (or --include-torgb for more coordinates)")


def _merge(args) -> int:
    from stylex.attfind import merge_records

    merged = merge_records([Path(p) for p in args.shards], Path(args.out))
    print(f"merged {len(args.shards)} shards -> {args.out} ({int(merged.done.sum())} of {merged.num_images} done)")
    return 0


def _load_images(dataset, n: int, seed: int):
    """A seeded random sample of n images of the split, in dataset order."""
    import numpy as np
    import torch

    n = min(n, len(dataset))
    index = np.sort(np.random.default_rng(seed).permutation(len(dataset))[:n])
    items = [dataset[int(i)] for i in index]
    return torch.stack([x for x, _ in items]), np.array([y for _, y in items]), index


def _discriminator_scorer(checkpoint: Path, net_config, device):
    """D of the checkpoint, scoring each image on its own (minibatch std over one image, so a score
    does not depend on which other edits share its batch)."""
    from stylex.training.checkpoint import load_checkpoint

    D = net_config.build_discriminator()
    D.load_state_dict(load_checkpoint(checkpoint)["D"])
    D = D.to(device).eval().requires_grad_(False)
    D.trunk.mbstd_group = min(D.trunk.mbstd_group, 1)
    return lambda images, c: D(images, c)


def _attfind(args) -> int:
    from stylex.attfind import compute_records, shard_path
    from stylex.attfind.context import file_sha256, recorded_paths
    from stylex.classifiers import check_finite_outputs, class_names_for, load_classifier
    from stylex.datasets import open_dataset
    from stylex.errors import StylexError
    from stylex.training.checkpoint import load_trained, resolve_checkpoint
    from stylex.training.distributed import init_distributed, shutdown

    if not (args.run or args.checkpoint):
        raise StylexError("give the trained model: --run RUN_DIR or --checkpoint FILE")
    if not args.out:
        raise StylexError("--out is required: the records file to write, e.g. RUN_DIR/attfind/records.h5")
    info = init_distributed(args.device)
    try:
        from stylex.runtime import check_writable_dir

        check_writable_dir(Path(args.out).resolve().parent, "--out")
        checkpoint = resolve_checkpoint(args.run or args.checkpoint)
        trained = load_trained(checkpoint, info.device)
        clf_path = args.classifier or trained.classifier_path
        if not clf_path:
            raise StylexError(f"the run of {checkpoint} does not name its classifier; pass --classifier")
        data = args.data or trained.config.get("data")
        if not data:
            raise StylexError(f"the run of {checkpoint} does not name its data; pass --data")
        G, E = trained.G, trained.E
        _check_top_k(args.top_k, G.stylespace(include_torgb=args.include_torgb).size)
        dataset = open_dataset(data, G.resolution, split=args.split)  # the split seed `stylex train` uses
        classifier = load_classifier(clf_path, info.device, num_classes=dataset.num_classes, resolution=G.resolution)
        if classifier.num_classes != G.c_dim:
            raise StylexError(f"classifier {clf_path} has {classifier.num_classes} classes but the generator of "
                              f"{checkpoint} is conditioned on {G.c_dim}; pass the classifier it was trained with")
        if trained.classifier_fingerprint and classifier.fingerprint != trained.classifier_fingerprint:
            raise StylexError(f"classifier {clf_path} is not the one {checkpoint} was trained with (its weights "
                              "differ); AttFind explains the classifier the generator was trained for")
        if len(dataset) < args.num_images and info.is_main:
            print(f"note: the {args.split} split has {len(dataset)} images; analysing all of them")
        images, labels, index = _load_images(dataset, args.num_images, args.seed)
        check_finite_outputs(classifier, images, [dataset.paths[i] for i in index])
        world = dataset.meta.get("world")
        meta = {
            **recorded_paths("checkpoint", checkpoint, args.out), "checkpoint_sha256": file_sha256(checkpoint),
            **recorded_paths("classifier", clf_path, args.out), "classifier_fingerprint": classifier.fingerprint,
            "data": str(data), "split": args.split, "seed": args.seed,
            "world": None if not world else {
                "label": dataset.meta.get("label_factor"),
                "shortcut": (world.get("shortcut") or {}).get("factor"),
            },
        }
        disc = _discriminator_scorer(checkpoint, trained.net_config, info.device) if args.discriminator_score else None
        out = Path(args.out)
        target = shard_path(out, info.rank, info.world_size) if info.enabled else out
        records = compute_records(
            target, G, E, classifier, images, labels, image_index=index,
            class_names=class_names_for(classifier, dataset.class_names),
            conditioning=trained.conditioning, shift=args.shift, include_torgb=args.include_torgb,
            batch=args.batch, device=info.device, discriminator=disc, meta=meta, shard=(info.rank, info.world_size),
            overwrite=args.overwrite, progress=info.is_main and not args.no_progress, method=args.method,
            precision=args.precision, **({"candidates": args.candidates} if args.candidates else {}),
        )
        if info.enabled:
            import torch.distributed as dist

            dist.barrier()
            if not info.is_main:
                return 0
            from stylex.attfind import merge_records

            shards = [shard_path(out, r, info.world_size) for r in range(info.world_size)]
            records = merge_records(shards, out)
            for s in shards:
                s.unlink()
        print(f"records of {records.num_images} images x {records.space.size} coordinates -> {out}")
        return _select(out, None, _selection_options(args)) if records.complete else 1
    finally:
        shutdown(info)
