"""`stylex world`: write a synthetic cartoon-face dataset with known factors (stylex.world)."""

from __future__ import annotations

from stylex.commands.common import add_seed_arg, positive_int

HELP = "generate the synthetic world: cartoon faces with known factors (smile, glasses, ...)"
DESCRIPTION = """Write a dataset of procedurally drawn cartoon faces whose generating factors are known:
smile, glasses, eye_size, hair_color, skin_tone, background, pose (sampled independently). One
factor is the class label. Every stylex command reads the result as --data DIR.

The folder holds images/*.png, factors.csv (split, label, every factor per image), world.json and
contact_sheet.png. Splits: 80 % train, 10 % val, 10 % test.

--shortcut FACTOR:P plants a spurious cue: in train and val the binary FACTOR equals the binary
label with probability P (value i goes with class i, e.g. background cool=frown, warm=smile);
in test it stays independent (~50 %), so test is the shortcut-broken split.

Examples:
  stylex world --out data/world --n 10000 --resolution 32 --label smile
  stylex world --out data/world-shortcut --n 10000 --label smile --shortcut background:0.95
"""


def add_arguments(parser):
    # No `choices` from stylex.world here: importing it (and torch) would slow every `stylex --help`;
    # generate_world rejects an unknown factor with the list of known ones.
    parser.add_argument("--out", required=True, help="folder to create (must not exist or be empty)")
    parser.add_argument("--n", type=positive_int, default=10000, help="number of images (default: 10000)")
    parser.add_argument("--resolution", type=positive_int, default=32,
                        help="image size, a power of two of 32 or more (default: 32)")
    parser.add_argument("--label", default="smile",
                        help="factor used as the class label: smile, glasses, eye_size, hair_color, skin_tone, "
                        "background or pose (default: smile)")
    parser.add_argument("--shortcut", default=None, metavar="FACTOR:P",
                        help="plant a spurious correlation, e.g. background:0.95 (both factors binary)")
    add_seed_arg(parser)


def run(args):
    from stylex.world import generate_world, read_world

    out = generate_world(args.out, args.n, args.resolution, args.label, args.shortcut, args.seed)
    meta, _ = read_world(out)
    print(f"wrote {meta['n']} images at {meta['resolution']} px to {out} "
          f"(label {meta['label']}: {', '.join(meta['class_names'])}; splits {meta['split_counts']}"
          + (f"; shortcut {meta['shortcut']['factor']} agrees {meta['shortcut']['agreement']:.0%} in train/val"
             if meta["shortcut"] else "") + ")")
    print(f"contact sheet: {out / 'contact_sheet.png'}")
