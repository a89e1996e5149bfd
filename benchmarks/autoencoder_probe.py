"""Autoencoder probe for the fidelity ablation (docs/FIDELITY.md): can G(E(x), C(x)) learn to draw
the world's features at all, and how fast, with a given reconstruction loss?

Trains the cpu-32 G and E on reconstruction only (L1 + optional SSIM / Laplacian terms, no D, no
classifier term, no EMA) and prints `evaluate.fidelity` of the reconstructions of 256 test faces
every 1500 steps and at the end. The factor oracle only judges; nothing of it enters training.

  python -m benchmarks.autoencoder_probe --data /tmp/w32 --classifier models/world-smile/classifier.pt \
      --steps 6000 --ssim 1
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from stylex import evaluate
from stylex.classifiers import load_classifier
from stylex.config import network_preset
from stylex.datasets import open_dataset
from stylex.maths import condition_from_logits
from stylex.oracle import load_oracle
from stylex.training.loop import align_encoder_to_mapping
from stylex.training.losses import laplacian_distance, ssim_distance


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="a world from `stylex world` (32 px)")
    p.add_argument("--classifier", required=True, help="the classifier whose condition G reads")
    p.add_argument("--steps", type=int, default=6000, help="optimizer steps of batch 16 (default 6000)")
    p.add_argument("--lr", type=float, default=0.002, help="Adam learning rate (default 0.002)")
    p.add_argument("--beta1", type=float, default=0.0, help="Adam beta1 (default 0, as StylEx training)")
    p.add_argument("--noise", default="random", choices=("random", "const", "none"), help="G's noise mode")
    p.add_argument("--ssim", type=float, default=0.0, help="weight of 1 - SSIM next to L1 (weight 1)")
    p.add_argument("--laplacian", type=float, default=0.0, help="weight of the Laplacian-pyramid L1")
    p.add_argument("--d-channel-base", type=int, default=None, help="encoder width (default: the preset's)")
    p.add_argument("--eval-every", type=int, default=1500, help="fidelity every this many steps")
    args = p.parse_args(argv)

    net = network_preset("cpu-32")
    if args.d_channel_base:
        net.d_channel_base = args.d_channel_base
    torch.manual_seed(0)
    G, E = net.build_generator(), net.build_encoder()
    C = load_classifier(args.classifier, resolution=net.resolution)
    train = open_dataset(args.data, net.resolution, "train")
    test = open_dataset(args.data, net.resolution, "test")
    X = torch.stack([train[i][0] for i in range(len(train))])
    faces = torch.stack([test[i][0] for i in range(min(256, len(test)))])
    oracle = load_oracle()
    align_encoder_to_mapping(E, G, X[:64])
    opt = torch.optim.Adam([*G.parameters(), *E.parameters()], lr=args.lr, betas=(args.beta1, 0.99))
    gen, start = torch.Generator().manual_seed(0), time.time()

    def report(step):
        G.eval(), E.eval()
        out = evaluate.fidelity(G, E, C, faces, oracle, samples=0)
        G.train(), E.train()
        out.update(step=step, seconds=round(time.time() - start), args=vars(args))
        print(json.dumps(out), flush=True)

    for step in range(1, args.steps + 1):
        x = X[torch.randint(len(X), (16,), generator=gen)]
        with torch.no_grad():
            c = condition_from_logits(C(x), "probs")
        rec = G.synthesis(G.styles(E(x), c), noise_mode=args.noise)
        loss = (rec - x).abs().mean()
        if args.ssim:
            loss = loss + args.ssim * ssim_distance(rec, x)
        if args.laplacian:
            loss = loss + args.laplacian * laplacian_distance(rec, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % args.eval_every == 0 or step == args.steps:
            report(step)


if __name__ == "__main__":
    main()
