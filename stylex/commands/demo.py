"""`stylex demo`: the whole method end to end on the synthetic world (stylex/demo.py)."""

from __future__ import annotations

from stylex.commands.common import add_device_arg, add_seed_arg, non_negative_float, non_negative_int
from stylex.demo import CONDITION_CHANNELS, CONDITION_RESOLUTION, CONDITION_SPARSITY, DEFAULT_SIZES, QUICK_SIZES

HELP = "end-to-end demo: explain a clean and a shortcut smile classifier, write report.html"
DESCRIPTION = """Generate the synthetic world, train a clean and a shortcut (background) smile classifier,
train StylEx for each, run AttFind, draw the figures and GIFs, evaluate (sufficiency against random
and Wu et al. baselines, classifier-specificity, ground-truth recovery) and write OUT/report.html and
OUT/summary.json. The report also measures the shipped 300-kimg models of a clean and a shortcut smile
classifier (models/world-smile and models/world-shortcut, found in the source checkout or $STYLEX_MODELS) the
same way. 12-14 minutes on a 2-core AMD EPYC CPU, about 28 on a slower 2-core Xeon; --quick: about
a minute, tiny sizes.

Examples:
  stylex demo                       # -> demo_out/report.html
  stylex demo --quick --out /tmp/demo
"""


def add_arguments(parser):
    parser.add_argument("--out", default="demo_out",
                        help="folder for the worlds, classifiers, runs, figures and report (default demo_out)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes: every stage runs in a minute or two, the numbers mean little")
    parser.add_argument("--condition-sparsity", type=non_negative_float, default=CONDITION_SPARSITY, metavar="W",
                        help="stylex train's --condition-sparsity for both StylEx runs "
                             f"(default {CONDITION_SPARSITY:g}, the cpu-32 preset's; 0: off)")
    parser.add_argument("--condition-channels", type=non_negative_int, default=CONDITION_CHANNELS, metavar="K",
                        help="stylex train's --condition-channels for both StylEx runs: c reaches only the "
                             f"first K style channels of each layer (default {CONDITION_CHANNELS}, the cpu-32 "
                             "preset's; 0: all)")
    parser.add_argument("--condition-resolution", type=non_negative_int, default=CONDITION_RESOLUTION, metavar="R",
                        help="stylex train's --condition-resolution for both StylEx runs: c reaches only the "
                             f"layers of resolution up to R px (default {CONDITION_RESOLUTION}, the cpu-32 "
                             "preset's; 0: every resolution)")
    parser.add_argument("--warmup-kimg", type=non_negative_float, metavar="KIMG",
                        help="autoencoder warm-up of both StylEx runs, of their 50 kimg "
                             f"(default {DEFAULT_SIZES.warmup_kimg:g}; --quick: {QUICK_SIZES.warmup_kimg:g})")
    add_seed_arg(parser)
    add_device_arg(parser)


def run(args):
    from stylex.demo import run_demo

    run_demo(args.out, quick=args.quick, seed=args.seed, device=args.device,
             condition_sparsity=args.condition_sparsity, condition_channels=args.condition_channels,
             condition_resolution=args.condition_resolution, warmup_kimg=args.warmup_kimg)
    return 0
