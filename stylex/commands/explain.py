"""`stylex explain`: figures of an AttFind result (panels, GIFs, summary, per-image, index.html)."""

from __future__ import annotations

from stylex.commands.common import add_device_arg, positive_int

HELP = "draw the attributes found by AttFind: panels, GIFs, a summary figure and index.html"
DESCRIPTION = """Render the top attributes of a records file (stylex attfind) as figures.

Writes to --out: summary.png (one row per attribute, [original | changed] pairs in both
directions), attribute_NN.png and attribute_NN.gif per attribute, image_NNNN.png (per-image
explanations) and index.html, which shows them all. The generator and classifier are found through
the paths recorded in the records file: relative to the records file first (so a moved or copied
run directory still works), then the absolute paths; pass --checkpoint / --classifier if neither
exists any more. Their fingerprints are checked either way.

Example:
  stylex explain --records runs/smile/attfind/records.h5 --out runs/smile/explain
"""


def add_records_arguments(parser, required: bool = True) -> None:
    """How `explain` and `evaluate` find a records file and what it refers to."""
    parser.add_argument("--records", required=required, help="records file written by `stylex attfind`")
    parser.add_argument("--attributes", help="attributes file (default: attributes.json beside the records)")
    parser.add_argument("--checkpoint", help="the training checkpoint, if it moved since `stylex attfind`")
    parser.add_argument("--classifier", help="the classifier file, if it moved since `stylex attfind`")
    parser.add_argument("--batch", type=positive_int, default=64, help="images rendered per call (default 64)")
    add_device_arg(parser)


def add_arguments(parser):
    add_records_arguments(parser)
    parser.add_argument("--out", required=True, help="folder for the figures and index.html")
    parser.add_argument("--top-k", type=positive_int, default=10, help="attributes to draw (default 10)")
    parser.add_argument("--examples", type=positive_int, default=4,
                        help="image pairs per direction in panels and the summary (default 4)")
    parser.add_argument("--images", type=int, default=6, help="per-image explanation figures (default 6)")
    parser.add_argument("--gif-frames", type=positive_int, default=16, help="frames per sweep animation (default 16)")
    parser.add_argument("--min-change", type=float, default=0.2,
                        help="probability change an example should show to be picked first (default 0.2)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args):
    from stylex import api

    result = api.explain(args.records, args.out, top_k=args.top_k, examples=args.examples, images=args.images,
                         gif_frames=args.gif_frames, min_change=args.min_change, checkpoint=args.checkpoint,
                         classifier=args.classifier, attributes=args.attributes, batch=args.batch,
                         device=args.device, progress=not args.no_progress)
    print(f"figures of {result.attributes} attributes -> {result.index}")
    return 0
