"""`stylex train-classifier`: train the classifier StylEx will explain (stylex.classifiers)."""

from __future__ import annotations

from stylex.commands.common import add_device_arg, add_seed_arg, positive_int, power_of_two

HELP = "train a classifier (small-cnn, resnet18, mobilenet_v2) on a dataset"
DESCRIPTION = """Train a classifier on the train split, keep the checkpoint with the best validation
accuracy, and report the test split. Writes --out (a stylex classifier file) and beside it, for
--out clf.pt, clf.report.json (test accuracy, confusion matrix, per-epoch history) and
clf.splits.csv (which image was in which split).

Examples:
  stylex train-classifier --data data/world --arch small-cnn --image-size 32 --epochs 5 --out clf.pt
  stylex train-classifier --data celeba:/data/celeba:Male --arch resnet18 --pretrained \\
      --image-size 64 --epochs 5 --out male.pt
"""


def add_arguments(parser):
    from stylex.classifiers import ARCHS
    from stylex.datasets import DATA_SPEC_HELP, ON_BAD_IMAGE

    parser.add_argument("--data", required=True, help=DATA_SPEC_HELP)
    parser.add_argument("--out", required=True, help="classifier file to write (e.g. clf.pt)")
    parser.add_argument("--arch", default="small-cnn", choices=ARCHS, help="architecture (default: small-cnn)")
    parser.add_argument("--image-size", type=power_of_two, default=32,
                        help="resolution the data is read at, i.e. the StylEx resolution (default: 32)")
    parser.add_argument("--input-size", type=positive_int, default=None,
                        help="size the network sees (default: 224 for resnet18/mobilenet_v2, else --image-size)")
    parser.add_argument("--pretrained", action="store_true",
                        help="start resnet18/mobilenet_v2 from ImageNet weights (torch hub cache)")
    parser.add_argument("--width", type=positive_int, default=32, help="small-cnn first-block channels (default: 32)")
    parser.add_argument("--epochs", type=positive_int, default=10, help="training epochs (default: 10)")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="batch size (default: 64)")
    parser.add_argument("--lr", type=float, default=None, help="AdamW learning rate (default: 1e-3; 1e-4 pretrained)")
    parser.add_argument("--no-flip", action="store_true",
                        help="no random horizontal flips (use when the label is left/right, e.g. pose)")
    parser.add_argument("--on-bad-image", default="skip", choices=ON_BAD_IMAGE,
                        help="unreadable images: skip them (counted) or fail (default: skip)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default: 0)")
    parser.add_argument("--split-seed", type=int, default=0,
                        help="seed of the train/val/test split where the data has no official one; keep the "
                        "default 0 that the other commands use (default: 0)")
    add_device_arg(parser)
    add_seed_arg(parser)


def run(args):
    from pathlib import Path

    from stylex.classifiers import shortcut_summary, train_classifier
    from stylex.runtime import check_writable_dir, resolve_device

    check_writable_dir(Path(args.out).resolve().parent, "--out")
    report = train_classifier(
        args.data, args.image_size, args.out, arch=args.arch, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, pretrained=args.pretrained, input_size=args.input_size, width=args.width,
        flip=not args.no_flip, device=resolve_device(args.device), seed=args.seed, split_seed=args.split_seed,
        on_bad_image=args.on_bad_image, num_workers=args.workers,
    )
    test = report["test"]
    print("confusion (rows: true, columns: predicted; " + ", ".join(test["class_names"]) + "):")
    for row in test["confusion"]:
        print("  " + " ".join(f"{v:6d}" for v in row))
    if "shortcut" in test:
        print(shortcut_summary(test["shortcut"]))
