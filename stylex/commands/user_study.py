"""`stylex user-study`: build a user-study pack from an AttFind result (`build`) and analyse the
answers people gave (`analyze`). The protocol is in all_user_studies/README.md."""

from __future__ import annotations

from stylex.commands.common import add_device_arg, add_seed_arg, positive_int

HELP = "user studies: build packs of attribute animations, analyse survey answers"
DESCRIPTION = """The paper's two user studies of the attributes AttFind found.

build: the classification study (per question, two animations of one attribute on the left and
  candidates A and B on the right, one showing the same attribute) and the verbal study (one
  attribute on four images: describe it in 1-4 words), as GIFs with an answer key (key.json and
  info_of_images.txt) and the question titles to paste into a survey (survey_questions.txt).
analyze: read a survey export (CSV, one row per respondent, one column per question) and the key;
  report accuracy (and verbal agreement) per study and per attribute as JSON and a bar plot.

Examples:
  stylex user-study build --records runs/smile/attfind/records.h5 --name smile
  stylex user-study analyze --key all_user_studies/smile/key.json --answers responses.csv
"""


def add_arguments(parser):
    sub = parser.add_subparsers(dest="action", metavar="{build,analyze}", required=True)
    build = sub.add_parser("build", help="write a study pack of GIFs and its answer key",
                           description="Write a study pack to all_user_studies/<name>/ (or --out).")
    build.add_argument("--records", required=True, help="records file written by `stylex attfind`")
    build.add_argument("--name", help="the pack's name: it is written to all_user_studies/<name>/")
    build.add_argument("--out", help="the pack's folder instead of all_user_studies/<name>/")
    build.add_argument("--questions", type=positive_int, default=12,
                       help="classification questions (default 12)")
    build.add_argument("--attributes", type=positive_int, default=6,
                       help="top attributes the studies use; one verbal question each (default 6)")
    build.add_argument("--frames", type=positive_int, default=16,
                       help="frames per sweep, played forward then back (default 16)")
    build.add_argument("--duration-ms", type=positive_int, default=100, help="milliseconds per frame (default 100)")
    build.add_argument("--pool", type=positive_int, default=8,
                       help="images are drawn from the POOL images each attribute affects most (default 8)")
    build.add_argument("--attributes-file", help="the selection (default: attributes.json beside the records)")
    build.add_argument("--checkpoint", help="the training checkpoint, if it moved since `stylex attfind`")
    build.add_argument("--classifier", help="the classifier file, if it moved since `stylex attfind`")
    build.add_argument("--batch", type=positive_int, default=64, help="images rendered per call (default 64)")
    build.add_argument("--overwrite", action="store_true", help="rebuild a folder that already holds a pack")
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_seed_arg(build)
    add_device_arg(build)
    analyze = sub.add_parser("analyze", help="accuracy per study and attribute from a survey export",
                             description="Analyse a survey export (CSV) against a pack's key.json; see "
                                         "all_user_studies/README.md for the accepted column layouts.")
    analyze.add_argument("--key", required=True, help="the pack's key.json (or the pack folder)")
    analyze.add_argument("--answers", required=True, help="the survey export: CSV, one row per respondent")
    analyze.add_argument("--json", help="analysis file to write (default: <answers>_analysis.json beside the CSV)")
    analyze.add_argument("--plot", help="bar plot to write (default: the --json path with .png)")


def run(args):
    return _build(args) if args.action == "build" else _analyze(args)


def _build(args) -> int:
    from stylex.runtime import resolve_device
    from stylex.user_study import build_study_pack

    pack = build_study_pack(args.records, args.name, args.out, questions=args.questions,
                            attributes=args.attributes, seed=args.seed, frames=args.frames,
                            duration_ms=args.duration_ms, pool=args.pool, device=resolve_device(args.device),
                            checkpoint=args.checkpoint, classifier=args.classifier,
                            attributes_file=args.attributes_file, batch=args.batch, overwrite=args.overwrite,
                            progress=not args.no_progress)
    studies = [q["study"] for q in pack.key["questions"]]
    print(f"study pack {pack.key['name']!r}: {studies.count('classification')} classification and "
          f"{studies.count('verbal')} verbal questions on {len(pack.key['attributes'])} attributes -> {pack.directory}")
    print(f"  answer key {pack.key_path}; survey titles {pack.directory / 'survey_questions.txt'}")
    return 0


def _analyze(args) -> int:
    from stylex.user_study import analyze_study

    result = analyze_study(args.key, args.answers, args.json, args.plot)
    print(f"{result['respondents']} respondents; ignored columns: {', '.join(result['ignored_columns']) or 'none'}")
    for study, summary in result["studies"].items():
        measure = "accuracy" if study == "classification" else "agreement"
        print(f"  {study:<15s} {measure} {_fmt(summary[measure])}  ({summary['questions']} questions, "
              f"{summary['unanswered']} unanswered)")
        for a in summary["per_attribute"]:
            print(f"    #{a['attribute']:<3d} {a['name']:<18s} {_fmt(a[measure])}")
    print(f"analysis -> {result['json']}; plot -> {result['plot']}")
    return 0


def _fmt(spread: dict) -> str:
    std = "n/a" if spread["std"] is None else f"{spread['std']:.3f}"
    mean = "n/a" if spread["mean"] is None else f"{spread['mean']:.3f}"
    return f"{mean} +- {std} (n={spread['respondents']})"
