"""`stylex prepare`: turn a downloaded public dataset into a folder that `--data` reads."""

from __future__ import annotations

import os

from stylex.commands.common import positive_int, power_of_two

HELP = "download (when possible) and convert CelebA, FFHQ-Aging, Plant-Village or AFHQ for stylex"
DESCRIPTION = """Convert a public dataset (an archive, a folder, or a fresh download) into the layout
stylex reads, optionally center-cropped and resized, with a manifest (prepare_manifest.json:
counts per class, sources, resolution). Plant-Village and AFHQ download by themselves when
online; CelebA and the FFHQ images need a login, so the command prints the manual steps and
you pass the files with --archive. Offline, a missing download is one clear error line.

Examples:
  stylex prepare afhq --out data/afhq/prepared --resolution 256
  stylex prepare plant_village --out data/plant_village/prepared --archive ~/Downloads/plant_village.zip
  stylex prepare celeba --out data/celeba/prepared --archive celeba-dataset.zip --resolution 128
  stylex prepare ffhq --out data/ffhq/prepared --archive flickrfaceshq-dataset-nvidia-resized-256px.zip

See data/README.md for each dataset's source, licence and size.
"""


def add_arguments(parser):
    from stylex.prepare import RECIPES

    parser.add_argument("dataset", choices=list(RECIPES), help="which dataset to prepare")
    parser.add_argument("--out", required=True, help="folder to write the prepared dataset into (empty or new)")
    parser.add_argument(
        "--archive",
        action="append",
        default=[],
        metavar="FILE",
        help="a downloaded zip/tar archive, extracted folder or loose file (e.g. a labels file) to use "
        "instead of downloading; repeat for several",
    )
    parser.add_argument(
        "--resolution",
        type=power_of_two,
        default=None,
        help="center-crop and resize to this power-of-two size (default: keep the size; ffhq: 256)",
    )
    parser.add_argument(
        "--download-dir",
        default=None,
        help="where downloads are stored and reused (default: a 'downloads' folder beside --out)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=min(8, os.cpu_count() or 1),
        help="threads decoding and writing images (default: number of CPUs, at most 8)",
    )


def run(args):
    from stylex.prepare import prepare

    manifest = prepare(args.dataset, args.out, args.archive, args.resolution, args.download_dir, args.workers)
    bad = manifest.get("bad_files", [])
    print(f"prepared {manifest['title']}: {manifest['images']:,d} images in {args.out}")
    if bad:
        print(f"skipped {len(bad)} unreadable file(s), listed in {args.out}/prepare_manifest.json; first: {bad[0]}")
    if manifest.get("left_out_folders"):
        print(f"left out folders that are not classes: {', '.join(manifest['left_out_folders'])}")
    print(f"use it with: --data {manifest['spec']}")
