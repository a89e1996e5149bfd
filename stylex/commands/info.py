"""`stylex info`: sizes of a network preset (parameters, StyleSpace coordinates)."""

from __future__ import annotations

from stylex.commands.common import positive_int

HELP = "print the network sizes and StyleSpace size of a preset"
DESCRIPTION = """Print parameter counts of G, D and E and the StyleSpace size of a network preset.

Example:  stylex info --preset paper-256
"""


def add_arguments(parser):
    from stylex.config import NETWORK_PRESETS

    parser.add_argument("--preset", default="cpu-32", choices=sorted(NETWORK_PRESETS), help="network preset")
    parser.add_argument("--classes", type=positive_int, default=2, help="number of classifier classes (c_dim)")


def run(args):
    from stylex.config import network_preset

    cfg = network_preset(args.preset)
    cfg.c_dim = args.classes
    G, D, E = cfg.build_generator(), cfg.build_discriminator(), cfg.build_encoder()

    def count(m):
        return sum(p.numel() for p in m.parameters())

    print(f"preset {args.preset}: {cfg.resolution} px, c_dim {cfg.c_dim}")
    print(f"  generator      {count(G):>12,d} parameters")
    print(f"  discriminator  {count(D):>12,d} parameters")
    print(f"  encoder        {count(E):>12,d} parameters")
    print(f"  StyleSpace     {G.stylespace().size:>12,d} modulated-conv coordinates "
          f"({G.stylespace(include_torgb=True).size:,d} with toRGB)")
