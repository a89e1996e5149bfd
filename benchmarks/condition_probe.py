"""Condition probe for the shortcut ablation (docs/SHORTCUT.md): where does a trained generator
follow its condition c, on its own samples and on reconstructions, and through which layers?

For N images (noise samples G(mapping(z), c) and reconstructions G(E(x), c) of N test images),
each is rendered with the condition of its own class and of the other class (binary classifiers;
the class is C(x)'s for reconstructions and the rendered one for noise samples), first in every
style layer, then in one layer at a time. It prints the share whose decision follows the swapped
condition, and for each layer how many style channels c reaches and how far the swap moves them.
Only the classifier judges; no oracle is involved.

  python -m benchmarks.condition_probe --run /tmp/runs/S1 --classifier sc.pt --data /tmp/w32
"""

from __future__ import annotations

import argparse

import torch

from stylex.api import sample_images
from stylex.classifiers import load_classifier
from stylex.datasets import open_dataset
from stylex.maths import clamp_images
from stylex.training.checkpoint import load_trained


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="a run directory or checkpoint of `stylex train`")
    p.add_argument("--classifier", required=True, help="the run's (binary) classifier")
    p.add_argument("--data", required=True, help="the run's dataset (its test images are reconstructed)")
    p.add_argument("--images", type=int, default=256, help="noise samples and test images (default 256)")
    args = p.parse_args(argv)

    torch.manual_seed(0)
    trained = load_trained(args.run)
    G, E, C = trained.G, trained.E, load_classifier(args.classifier).eval()
    if G.c_dim != 2:
        raise SystemExit(f"{args.run}: the probe is for binary classifiers; this generator has c_dim {G.c_dim}")
    images = sample_images(open_dataset(args.data, G.resolution, "test"), args.images, 1)[0]

    def decide(styles):
        return C(clamp_images(G.synthesis(styles, noise_mode="const"))).argmax(1)

    with torch.no_grad():
        weights = G.condition_weights()
        reach = 0.01 * max(float(w.norm(dim=1).max()) for w in weights if w.numel())  # as G/condition_channels
        latents = {"noise": G.mapping(torch.randn(args.images, G.z_dim)), "reconstruction": E(images)}
        for name, w in latents.items():
            if name == "noise":
                own = decide(G.styles(w, torch.full((len(w), 2), 0.5)))  # the sample's class, c neutral
            else:
                own = C(images).argmax(1)
            c_own, c_other = torch.eye(2)[own], torch.eye(2)[1 - own]
            s_own, s_other = G.styles(w, c_own), G.styles(w, c_other)
            follows = float((decide(s_other) == 1 - own).float().mean())
            print(f"{name}: the swapped condition in every style layer decides {follows:.2f} of {len(w)}")
            for i, (layer, weight) in enumerate(zip(G.layers, weights)):
                if weight.shape[1] == 0:
                    print(f"  {layer.name:10s} does not see c")
                    continue
                styles = [b if j == i else a for j, (a, b) in enumerate(zip(s_own, s_other))]
                flips = float((decide(styles) == 1 - own).float().mean())
                moved = float((s_other[i] - s_own[i]).norm(dim=1).mean())
                print(f"  {layer.name:10s} c reaches {int((weight.norm(dim=1) >= reach).sum()):4d} channels, "
                      f"swap moves its styles {moved:.3f}, alone it decides {flips:.2f}")


if __name__ == "__main__":
    main()
