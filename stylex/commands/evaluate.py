"""`stylex evaluate`: measured numbers of an AttFind result (docs/METHOD.md section 5)."""

from __future__ import annotations

import json

from stylex.commands.common import positive_int
from stylex.commands.explain import add_records_arguments

HELP = ("measure an AttFind result (sufficiency, baselines, specificity, reconstruction, condition, ground truth) "
        "or a trained model's fidelity")
DESCRIPTION = """Measure an AttFind result. Every result is one JSON object with its sample size
(printed with --json, and written to --out if given).

  sufficiency     flip rate when the top-k attributes change together (key flip_rate) and the curve k=1..K
  baselines       the same for AttFind, k random coordinates and Wu et al.'s StyleSpace detection
  specificity     2x2 flip rates: attributes of run X judged by the classifier of run Y
                  (--records for run A, --other-records for run B)
  condition       does the generator take the decision from the condition c, and over how many
                  coordinates is it spread: flip rates when c is swapped for another class's in
                  every style, and in only the k coordinates the swap moves most (k = 1, 3, ..., all)
  reconstruction  classifier agreement, KL, L1 and Fréchet distance of reconstructions, and the
                  Fréchet distance of counterfactuals as k grows
  ground-truth    synthetic world only: the world factor each top attribute changes (factor oracle),
                  and causal recovery@k for the label factor (and the planted shortcut)
  fidelity        synthetic world only, no records needed (--checkpoint, --classifier, --data): do
                  reconstructions keep what a person sees? The share of held-out faces whose every
                  world factor the factor oracle reads the same on the reconstruction (factor_fidelity),
                  next to classifier agreement and L1, and the oracle's confidence on noise samples

Examples:
  stylex evaluate sufficiency --records runs/smile/attfind/records.h5 --top-k 10 --json
  stylex evaluate specificity --records runs/clean/attfind/records.h5 --other-records runs/shortcut/attfind/records.h5
  stylex evaluate ground-truth --records runs/shortcut/attfind/records.h5 --json
  stylex evaluate fidelity --checkpoint runs/smile --classifier smile.pt --data data/world --json
"""

WHAT = ("sufficiency", "baselines", "specificity", "reconstruction", "condition", "ground-truth", "fidelity")


def add_arguments(parser):
    parser.add_argument("what", choices=WHAT, help="what to measure (see above)")
    add_records_arguments(parser, required=False)
    parser.add_argument("--data", help="fidelity: the synthetic world (a folder from `stylex world`) whose test "
                        "faces are reconstructed")
    parser.add_argument("--num-images", type=positive_int, default=256,
                        help="fidelity: held-out test faces reconstructed (default 256)")
    parser.add_argument("--samples", type=int, default=256,
                        help="fidelity: noise samples for the oracle's confidence (default 256; 0 skips)")
    parser.add_argument("--top-k", type=positive_int, default=10, help="attributes changed together (default 10)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--out", help="also write the JSON result to this file")
    parser.add_argument("--seeds", type=positive_int, default=5, help="baselines: random draws averaged (default 5)")
    parser.add_argument("--other-records", help="specificity: the records file of the run trained with the other "
                        "classifier (its attributes.json beside it)")
    parser.add_argument("--factor", help="ground-truth: the world factor the classifier should use "
                        "(default: the world's label factor, and its shortcut factor if it has one)")
    parser.add_argument("--oracle", help="ground-truth: factor-oracle weights file (default: the packaged one)")


def _measure(args, ctx, device) -> dict:
    from stylex import evaluate

    editor = ctx.editor(args.batch)
    if args.what == "sufficiency":
        return evaluate.sufficiency(editor, ctx.selection, args.top_k)
    if args.what == "baselines":
        return evaluate.baselines(editor, ctx.selection, args.top_k, args.seeds)
    if args.what == "reconstruction":
        return evaluate.reconstruction(editor, ctx.selection, args.top_k)
    if args.what == "condition":
        return evaluate.condition_swap(editor)
    if args.what == "specificity":
        from stylex.attfind import load_context
        from stylex.errors import StylexError

        if not args.other_records:
            raise StylexError("specificity needs --other-records: the records of the run trained with the other "
                              "classifier")
        other = load_context(args.other_records, device)
        runs = {"A": (ctx.G, ctx.classifier, ctx.records, ctx.selection, device),
                "B": (other.G, other.classifier, other.records, other.selection, device)}
        result = evaluate.classifier_specificity(runs, args.top_k)
        result["runs"] = {"A": str(args.records), "B": str(args.other_records)}
        return result
    from stylex.errors import StylexError
    from stylex.oracle import load_oracle

    world = ctx.records.meta.get("world") or {}
    factors = {"expected": args.factor} if args.factor else {k: v for k, v in world.items() if v}
    if not factors:
        raise StylexError(f"{args.records} was not made on a synthetic world; ground truth needs one "
                          "(or pass --factor)")
    return evaluate.ground_truth(editor, ctx.selection, load_oracle(args.oracle, device), args.top_k, factors)


def _print_summary(result: dict) -> None:
    what = result["what"]
    if what in ("sufficiency", "baselines"):
        parts = [result] if what == "sufficiency" else [result["attfind"], result["random"], result["wu"]]
        for name, r in zip(["attfind"] if what == "sufficiency" else ["attfind", "random", "wu"], parts):
            curve = " ".join(f"{c['flip_rate']:.2f}" for c in r["curve"])
            print(f"{name:8s} flip rate @{r['top_k']}: {r['flip_rate']:.3f} on {r['n_pairs']} images (k=1..: {curve})")
    elif what == "classifier_specificity":
        for x, row in result["matrix"].items():
            print(f"attributes of {x}: " + "  ".join(f"classifier {y}: {v:.3f}" for y, v in row.items()))
    elif what == "condition":
        curve = " ".join(f"{c['k']}: {c['flip_rate']:.2f}" for c in result["curve"])
        print(f"condition swapped in every style: flip rate {result['flip_rate_all_styles']:.3f} on "
              f"{result['n_pairs']} images; in the k coordinates it moves most: {curve}")
    elif what == "fidelity":
        shares = "  ".join(f"{k} {v:.2f}" for k, v in result["factor_fidelity"].items())
        print(f"agreement {result['agreement']:.3f}  l1 {result['l1']:.4f}  factor fidelity: {shares}  "
              f"(n={result['num_images']})")
    elif what == "reconstruction":
        values = "  ".join(f"{k}: {v:.4f}" for k, v in result.items() if isinstance(v, float))
        print(f"{values}  (n={result['n_images']})")
    else:
        for a in result["attributes"]:
            print(f"#{a['rank']:<3d} {a['name']:<18s} dominant factor {a['dominant_factor']:<11s} "
                  f"(change {a['factor_change'][a['dominant_factor']]:.2f})")
        for key in (k for k in result if k.startswith("recovery_")):
            r = result[key]
            at_k = " ".join(f"@{c['k']}={c['recovery']:.2f}" for c in r["at_k"])
            print(f"causal recovery of {r['factor']} ({key[len('recovery_'):]}): {at_k}")


def _fidelity(args, device) -> dict:
    from stylex.errors import StylexError

    missing = [flag for flag, value in (("--checkpoint", args.checkpoint), ("--classifier", args.classifier),
                                         ("--data", args.data)) if not value]
    if missing:
        raise StylexError(f"fidelity needs {', '.join(missing)} (the run or checkpoint, its classifier and the world)")
    from stylex.evaluate import fidelity_of_run

    return fidelity_of_run(args.checkpoint, args.classifier, args.data, args.num_images, args.samples,
                           args.batch, device)


def run(args):
    from stylex.errors import StylexError
    from stylex.runtime import atomic_write_bytes, resolve_device

    device = resolve_device(args.device)
    if args.what == "fidelity":
        result = _fidelity(args, device)
    else:
        from stylex.attfind import load_context

        if not args.records:
            raise StylexError(f"{args.what} needs --records (a records file written by `stylex attfind`)")
        ctx = load_context(args.records, device, args.checkpoint, args.classifier, args.attributes)
        result = {**_measure(args, ctx, device), "records": str(args.records)}
    text = json.dumps(result, indent=2)
    if args.out:
        atomic_write_bytes(args.out, (text + "\n").encode())
    if args.json:
        print(text)
    else:
        _print_summary(result)
    return 0
