"""Held-out metrics during training: reconstruction L1, classifier agreement, KL, and a Fréchet
distance of reconstructions and of noise samples to the real images.

The Fréchet distance is Inception FID (torchmetrics) when torchmetrics and its Inception weights are
present locally; otherwise it is computed on the frozen classifier's penultimate features and named
`fd_classifier_*`, so it is never mistaken for FID.
"""

from __future__ import annotations

import torch

from stylex.maths import (
    clamp_images,
    condition_from_logits,
    frechet_distance,
    inception_fid,
    inception_fid_available,
    kl_divergence,
)
from stylex.runtime import in_batches, map_batches


@torch.no_grad()
def heldout_metrics(G, E, classifier, images: torch.Tensor, conditioning: str, batch: int = 64, seed: int = 0):
    """Metrics of the (EMA) generator and encoder on held-out images [N, 3, R, R] in [-1, 1].

    Reconstructions are G(E(x), C(x)) with constant noise; samples are G(mapping(z), C(x)) for
    seeded z. Returns a dict of floats: rec_l1, agreement (share of reconstructions whose
    classifier argmax equals the original's), kl, and fid_* or fd_classifier_* of reconstructions
    and samples against the real images.
    """
    device = next(G.parameters()).device
    z_gen = torch.Generator(device=device).manual_seed(seed)
    l1_sum, agree, kl_sum = 0.0, 0, 0.0
    real_all, rec_all, sample_all = [], [], []
    for x in in_batches(images, batch):
        x = x.to(device)
        logits = classifier(x).float()
        c = condition_from_logits(logits, conditioning)
        rec = clamp_images(G.synthesis(G.styles(E(x), c)))
        z = torch.randn(len(x), G.z_dim, device=device, generator=z_gen)
        sample = clamp_images(G.synthesis(G.styles(G.mapping(z), c)))
        rec_logits = classifier(rec).float()
        l1_sum += float((rec - x).abs().mean(dim=[1, 2, 3]).sum())
        agree += int((rec_logits.argmax(1) == logits.argmax(1)).sum())
        kl_sum += float(kl_divergence(logits, rec_logits)) * len(x)
        real_all.append(x)
        rec_all.append(rec)
        sample_all.append(sample)
    n = len(images)
    out = {"rec_l1": l1_sum / n, "agreement": agree / n, "kl": kl_sum / n}
    real, rec, sample = torch.cat(real_all), torch.cat(rec_all), torch.cat(sample_all)
    if inception_fid_available():
        out["fid_recon"], out["fid_samples"] = inception_fid(real, rec), inception_fid(real, sample)
    else:
        feats = [map_batches(classifier.features, t, batch) for t in (real, rec, sample)]
        out["fd_classifier_recon"] = frechet_distance(feats[0], feats[1])
        out["fd_classifier_samples"] = frechet_distance(feats[0], feats[2])
    return out
