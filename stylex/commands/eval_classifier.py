"""`stylex eval-classifier`: accuracy of a classifier file on one split of a dataset."""

from __future__ import annotations

from stylex.commands.common import add_device_arg, positive_int, power_of_two

HELP = "evaluate a classifier on a held-out (or shortcut-broken) split"
DESCRIPTION = """Accuracy, per-class accuracy and confusion matrix of a classifier file (stylex,
TorchScript or ExportedProgram) on one split. For a world made with --shortcut, the test split is
the shortcut-broken one and the accuracy is also given where the shortcut agrees / disagrees.

Examples:
  stylex eval-classifier --classifier clf.pt --data data/world-shortcut --split test
  stylex eval-classifier --classifier model.pt2 --data afhq:/data/afhq --image-size 64 --json eval.json
"""


def add_arguments(parser):
    from stylex.datasets import DATA_SPEC_HELP, ON_BAD_IMAGE, SPLIT_CHOICES

    parser.add_argument("--classifier", required=True, help="classifier file (.pt stylex/TorchScript, .pt2)")
    parser.add_argument("--data", required=True, help=DATA_SPEC_HELP)
    parser.add_argument("--split", default="test", choices=SPLIT_CHOICES, help="split to evaluate (default: test)")
    parser.add_argument("--image-size", type=power_of_two, default=None,
                        help="resolution the data is read at (default: the classifier's training resolution, "
                        "else 32)")
    parser.add_argument("--batch-size", type=positive_int, default=256, help="batch size (default: 256)")
    parser.add_argument("--on-bad-image", default="skip", choices=ON_BAD_IMAGE,
                        help="unreadable images: skip them (counted) or fail (default: skip)")
    parser.add_argument("--json", default=None, help="also write the report to this JSON file")
    parser.add_argument("--split-seed", type=int, default=0,
                        help="seed of the split where the data has no official one (default: 0, as everywhere)")
    add_device_arg(parser)


def run(args):
    import json
    from pathlib import Path

    from stylex.classifiers import check_num_classes, evaluate_classifier, load_classifier, shortcut_summary
    from stylex.datasets import open_dataset
    from stylex.runtime import resolve_device

    device = resolve_device(args.device)
    clf = load_classifier(args.classifier, device=device, resolution=args.image_size)
    size = args.image_size or clf.info.get("resolution") or 32
    data = open_dataset(args.data, size, args.split, seed=args.split_seed, on_bad_image=args.on_bad_image)
    check_num_classes(clf, data.num_classes)
    report = evaluate_classifier(clf, data, batch_size=args.batch_size, device=device, progress=True)
    report.update(classifier=str(args.classifier), fingerprint=clf.fingerprint, data=args.data,
                  split=args.split, resolution=size, skipped=len(data.bad_files))
    print(f"{args.split} split of {args.data}: {report['n']} images, accuracy {report['accuracy']:.4f}")
    for name, acc in report["per_class_accuracy"].items():
        print(f"  {name}: {acc:.4f}")
    print("confusion (rows: true, columns: predicted):")
    for row in report["confusion"]:
        print("  " + " ".join(f"{v:6d}" for v in row))
    if "shortcut" in report:
        print(shortcut_summary(report["shortcut"]))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
