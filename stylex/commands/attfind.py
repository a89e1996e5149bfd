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


def _add_actions(parser) -> None:
    """`attfind select` and `attfind merge`."""
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


def add_arguments(parser):
    from stylex.datasets import DATA_SPEC_HELP

    _add_actions(parser)
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


def _print_selection(selection, path) -> None:
    print(f"{len(selection.attributes)} attributes ({selection.mode}; {len(selection.unstable)} unstable images "
          f"ignored) -> {path}")
    for a in selection.attributes[:10]:
        print(f"  #{a.rank:<3d} {a.name:<18s} {'to max' if a.direction else 'to min'} -> "
              f"{selection.class_names[a.toward_class]:<12s} score {a.score:+.3f}  moves {a.images_moved} images")


def _select(records_path: Path, out, options) -> int:
    from stylex import api

    result = api.select(records_path, options, out)
    _print_selection(result.selection, result.attributes_path)
    return 0


def _merge(args) -> int:
    from stylex.attfind import merge_records

    merged = merge_records([Path(p) for p in args.shards], Path(args.out))
    print(f"merged {len(args.shards)} shards -> {args.out} ({int(merged.done.sum())} of {merged.num_images} done)")
    return 0


def _load_images(dataset, n: int, seed: int):
    """A seeded random sample of n images of the split, in dataset order (stylex.api.sample_images)."""
    from stylex.api import sample_images

    return sample_images(dataset, n, seed)


def _attfind(args) -> int:
    from stylex import api

    result = api.attfind(api.AttFindRequest(
        out=args.out, run=args.run or args.checkpoint, data=args.data, split=args.split, classifier=args.classifier,
        num_images=args.num_images, seed=args.seed, batch=args.batch, method=args.method, candidates=args.candidates,
        precision=args.precision, shift=args.shift, include_torgb=args.include_torgb,
        discriminator_score=args.discriminator_score, overwrite=args.overwrite, progress=not args.no_progress,
        device=args.device, selection=_selection_options(args)))
    if not result.main_process:
        return 0
    records = result.records
    print(f"records of {records.num_images} images x {records.space.size} coordinates -> {result.records_path}")
    if not result.complete:
        return 1
    _print_selection(result.selection, result.attributes_path)
    return 0
