"""`stylex evaluate`: measured numbers of an AttFind result (docs/METHOD.md section 5)."""

from __future__ import annotations

import json

from stylex.commands.common import positive_int
from stylex.commands.explain import add_records_arguments

HELP = ("measure an AttFind result (sufficiency, baselines, specificity, reconstruction, condition, ground_truth) "
        "or a trained model's fidelity")
DESCRIPTION = """Measure an AttFind result. Every result is one JSON object with its sample size
(printed with --json, and written to --out if given).

  sufficiency     flip rate when the top-k attributes change together (key flip_rate) and the curve k=1..K
  baselines       the same for AttFind, k random coordinates and Wu et al.'s StyleSpace detection
  specificity     2x2 flip rates: attributes of run X judged by the classifier of run Y
                  (--records for run A, --other-records for run B); the same for each run's
                  strongest layer direction (layer_directions' top layer, key layer_matrix)
  condition       does the generator take the decision from the condition c, and over how many
                  coordinates is it spread: flip rates when c is swapped for another class's in
                  every style, and in only the k coordinates the swap moves most (k = 1, 3, ..., all)
  reconstruction  classifier agreement, KL, L1 and Fréchet distance of reconstructions, and the
                  Fréchet distance of counterfactuals as k grows
  ground_truth    synthetic world only: the world factor each top attribute changes (factor oracle),
                  and causal recovery@k for the label factor (and the planted shortcut)
  fidelity        synthetic world only, no records needed (--checkpoint, --classifier, --data): do
                  reconstructions keep what a person sees? The share of held-out faces whose every
                  world factor the factor oracle reads the same on the reconstruction (factor_fidelity),
                  next to classifier agreement and L1, and the oracle's confidence on noise samples
  layer_directions an extension beside AttFind: every style layer (toRGB included) moved by the
                  difference of its mean styles between the classifier's classes; flip rate per layer
                  against a random direction of the same length, the top-k layers together, and (on a
                  world) the factor each changes and causal recovery@k, as for ground_truth

Each name is also the result's "what" and the function in stylex.evaluate (its registry,
EVALUATIONS, is what this command runs); `ground-truth` is accepted for ground_truth.

Examples:
  stylex evaluate sufficiency --records runs/smile/attfind/records.h5 --top-k 10 --json
  stylex evaluate specificity --records runs/clean/attfind/records.h5 --other-records runs/shortcut/attfind/records.h5
  stylex evaluate ground_truth --records runs/shortcut/attfind/records.h5 --json
  stylex evaluate fidelity --checkpoint runs/smile --classifier smile.pt --data data/world --json
"""


def add_arguments(parser):
    from stylex.evaluate import ALIASES, EVALUATIONS

    parser.add_argument("what", choices=[*EVALUATIONS, *ALIASES], help="what to measure (see above)")
    add_records_arguments(parser, required=False)
    parser.add_argument("--data", help="fidelity: the synthetic world (a folder from `stylex world`) whose test "
                        "faces are reconstructed")
    parser.add_argument("--num-images", type=positive_int, default=256,
                        help="fidelity: held-out test faces reconstructed (default 256)")
    parser.add_argument("--samples", type=int, default=256,
                        help="fidelity: noise samples for the oracle's confidence (default 256; 0 skips)")
    parser.add_argument("--top-k", type=positive_int, default=10,
                        help="attributes (layer_directions: layers) changed together (default 10)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--out", help="also write the JSON result to this file")
    parser.add_argument("--seeds", type=positive_int, default=5,
                        help="baselines and layer_directions: random draws averaged (default 5)")
    parser.add_argument("--other-records", help="specificity: the records file of the run trained with the other "
                        "classifier (its attributes.json beside it)")
    parser.add_argument("--factor", help="ground_truth and layer_directions: the world factor the classifier "
                        "should use (default: the world's label factor, and its shortcut factor if it has one)")
    parser.add_argument("--oracle", help="ground_truth, layer_directions and fidelity: factor-oracle weights file "
                        "(default: the packaged one)")


def _print_summary(result: dict) -> None:
    what = result["what"]
    if what in ("sufficiency", "baselines"):
        parts = [result] if what == "sufficiency" else [result["attfind"], result["random"], result["wu"]]
        for name, r in zip(["attfind"] if what == "sufficiency" else ["attfind", "random", "wu"], parts):
            curve = " ".join(f"{c['flip_rate']:.2f}" for c in r["curve"])
            print(f"{name:8s} flip rate @{r['top_k']}: {r['flip_rate']:.3f} on {r['n_pairs']} images (k=1..: {curve})")
    elif what == "specificity":
        for x, row in result["matrix"].items():
            print(f"attributes of {x}: " + "  ".join(f"classifier {y}: {v:.3f}" for y, v in row.items()))
        for x, row in result["layer_matrix"].items():
            print(f"top layer direction of {x} ({result['top_layers'][x]}): "
                  + "  ".join(f"classifier {y}: {v:.3f}" for y, v in row.items()))
    elif what == "condition":
        curve = " ".join(f"{c['k']}: {c['flip_rate']:.2f}" for c in result["curve"])
        print(f"condition swapped in every style: flip rate {result['flip_rate_all_styles']:.3f} on "
              f"{result['n_pairs']} images; in the k coordinates it moves most: {curve}")
    elif what == "fidelity":
        shares = "  ".join(f"{k} {v:.2f}" for k, v in result["factor_fidelity"].items())
        print(f"agreement {result['agreement']:.3f}  l1 {result['l1']:.4f}  factor fidelity: {shares}  "
              f"(n={result['num_images']})")
    elif what == "layer_directions":
        for e in result["layers"]:
            factor = f"  dominant factor {e['dominant_factor']}" if "dominant_factor" in e else ""
            print(f"{e['layer']:<12s} flip rate {e['flip_rate']:.2f} (random direction {e['random_flip_rate']:.2f})"
                  f"  push {e['push']:+.2f}{factor}")
        curve = " ".join(f"@{c['k']}={c['flip_rate']:.2f} ({c['random_flip_rate']:.2f})" for c in result["combined"])
        print(f"top-k layers together, flip rate (random directions): {curve}")
        _print_recovery(result)
    elif what == "reconstruction":
        values = "  ".join(f"{k}: {v:.4f}" for k, v in result.items() if isinstance(v, float))
        print(f"{values}  (n={result['n_images']})")
    else:
        for a in result["attributes"]:
            dominant = a["dominant_factor"]
            change = f"{dominant:<11s} (change {a['factor_change'][dominant]:.2f})" if dominant else "none (no change)"
            print(f"#{a['rank']:<3d} {a['name']:<18s} dominant factor {change}")
        _print_recovery(result)


def _print_recovery(result: dict) -> None:
    for key in (k for k in result if k.startswith("recovery_")):
        r = result[key]
        at_k = " ".join(f"@{c['k']}={c['recovery']:.2f}" for c in r["at_k"])
        print(f"causal recovery of {r['factor']} ({key[len('recovery_'):]}): {at_k}")


def run(args):
    from stylex import api

    result = api.evaluate(args.what, args.records, top_k=args.top_k, batch=args.batch, seeds=args.seeds,
                          other_records=args.other_records, factors=args.factor, oracle=args.oracle,
                          checkpoint=args.checkpoint, classifier=args.classifier, attributes=args.attributes,
                          data=args.data, num_images=args.num_images, samples=args.samples, device=args.device,
                          out=args.out)
    if args.json:
        print(json.dumps(result.values, indent=2))
    else:
        _print_summary(result.values)
    return 0
