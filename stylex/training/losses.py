"""All loss maths of StylEx training (docs/METHOD.md section 3), in one place.

The pure functions at the top compute each term from tensors (and are tested on hand-computed
cases). `StylexLoss` runs the networks for one training phase on one micro-batch, adds the terms
with their weights and back-propagates; the loop owns the optimizers and the schedule.

Phases: `encoder` (x' = G(E(x), C(x)): adversarial + reconstruction + classifier KL; with
`--condition-swap`, part of the batch is rendered with another class's condition instead and
trained on the adversarial and classifier terms only), `noise`
(G(mapping(z), c of a random real image), with style mixing: adversarial, and optionally the
latent cycle E(G(w, c)) = w), `pl` (lazy path-length
regularization of G), `condition_sparsity` (a group lasso on G's weights on c, when on; once per
G step), `d` (D on real images and the fakes of the last G step) and `r1` (lazy R1 on real
images). Every image D sees goes through the augmenter.

Conditions: G gets the configured condition (`--conditioning`: softmax probabilities or raw
logits of C(x)); the projection discriminator always gets the probabilities, as in the authors'
code, whatever G's conditioning. Every generated image the classifier sees (the KL term, the
classifier perceptual term) is first clamped to [-1, 1] (`clamp_images`: zero gradient outside),
as the evaluation renders it.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from stylex.config import PERCEPTUAL_KINDS
from stylex.errors import StylexError
from stylex.maths import clamp_images, condition_from_logits, discriminator_condition, kl_divergence

# ---------------------------------------------------------------------------------------------
# The terms.


def generator_adversarial(fake_scores: torch.Tensor, kind: str = "logistic") -> torch.Tensor:
    """G's adversarial loss: non-saturating logistic softplus(-D(G)) or hinge -D(G), batch mean."""
    if kind == "hinge":
        return -fake_scores.mean()
    return F.softplus(-fake_scores).mean()


def discriminator_adversarial(real_scores: torch.Tensor, fake_scores: torch.Tensor, kind: str = "logistic"):
    """D's adversarial loss: softplus(D(fake)) + softplus(-D(real)), or the hinge
    relu(1 + D(fake)) + relu(1 - D(real)); each part is a batch mean."""
    if kind == "hinge":
        return F.relu(1 + fake_scores).mean() + F.relu(1 - real_scores).mean()
    return F.softplus(fake_scores).mean() + F.softplus(-real_scores).mean()




def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference."""
    return (a.float() - b.float()).abs().mean()


def r1_penalty(real_scores: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """Per-image squared norm of dD(x)/dx (real_images must require grad); differentiable."""
    (grad,) = torch.autograd.grad(real_scores.sum(), real_images, create_graph=True)
    return grad.float().square().sum(dim=[1, 2, 3])


def path_lengths(images: torch.Tensor, ws: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Per-image length of the Jacobian-vector product J_w^T y, y = noise / sqrt(H*W), averaged over
    the style layers (StyleGAN2's path length); differentiable."""
    y = noise / math.sqrt(images.shape[2] * images.shape[3])
    (grad,) = torch.autograd.grad((images * y).sum(), ws, create_graph=True)
    return grad.float().square().sum(dim=2).mean(dim=1).sqrt()








def feature_distance(a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
    """LPIPS-style distance of two lists of feature maps: unit-normalise each position's channel
    vector, squared difference summed over channels, averaged over positions, layers and batch."""
    total = 0.0
    for fa, fb in zip(a, b):
        fa = fa.float() / (fa.float().square().sum(dim=1, keepdim=True).sqrt() + 1e-10)
        fb = fb.float() / (fb.float().square().sum(dim=1, keepdim=True).sqrt() + 1e-10)
        total = total + (fa - fb).square().sum(dim=1).mean()
    return total / len(a)


def _to_unit(images: torch.Tensor) -> torch.Tensor:
    return (images.float() + 1) / 2


def _gaussian_blur(x: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of every channel, reflect-padded so the image keeps its size."""
    t = torch.arange(size, device=x.device, dtype=x.dtype) - (size - 1) / 2
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, [size // 2] * 4, mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, size).expand(c, 1, 1, size), groups=c)
    return F.conv2d(x, k.view(1, 1, size, 1).expand(c, 1, size, 1), groups=c)


def other_class_partners(labels: torch.Tensor) -> torch.Tensor:
    """For each image of a batch, the index of a random image with another label (itself when no
    image has another label)."""
    n = labels.shape[0]
    score = torch.rand(n, n, device=labels.device) + 2.0 * (labels.view(-1, 1) != labels.view(1, -1))
    score.fill_diagonal_(1.5)  # above every same-label image, below every other-label one
    return score.argmax(dim=1)


def condition_spread(weights: list[torch.Tensor]) -> torch.Tensor:
    """Group lasso over style channels: the sum, over every channel of every layer, of the L2 norm
    of that channel's weights on c (`Generator.condition_weights`). Small when c reaches few channels."""
    return sum((w.float().square().sum(dim=1) + 1e-12).sqrt().sum() for w in weights)


def condition_channels(weights: list[torch.Tensor], share: float = 0.01) -> int:
    """How many style channels c reaches: those whose c-weight norm is at least `share` of the largest."""
    norms = torch.cat([w.detach().float().norm(dim=1) for w in weights])
    return int((norms >= share * norms.max()).sum())


def ssim_distance(a: torch.Tensor, b: torch.Tensor, size: int = 5, sigma: float = 1.0) -> torch.Tensor:
    """1 - SSIM of two [-1, 1] image batches (Gaussian window, per channel, batch mean).

    SSIM compares local means, contrasts and correlations, so a small structure (a mouth of a few
    pixels) weighs as much as a large flat region: what an L1 loss, which averages it away, lacks.
    """
    a, b = _to_unit(a), _to_unit(b)
    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = _gaussian_blur(a, size, sigma), _gaussian_blur(b, size, sigma)
    var_a = _gaussian_blur(a * a, size, sigma) - mu_a**2
    var_b = _gaussian_blur(b * b, size, sigma) - mu_b**2
    cov = _gaussian_blur(a * b, size, sigma) - mu_a * mu_b
    ssim = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return 1 - ssim.mean()


def laplacian_distance(a: torch.Tensor, b: torch.Tensor, levels: int = 3) -> torch.Tensor:
    """L1 between the Laplacian pyramids of two image batches, each band weighted equally.

    The fine bands hold edges (a mouth's curve, an eye's rim); in plain L1 they are a small part
    of the error, here each band counts as much as the coarse image.
    """
    total = 0.0
    a, b = a.float(), b.float()
    for _ in range(levels):
        if a.shape[-1] < 4:
            break
        a_low, b_low = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        a_band = a - F.interpolate(a_low, scale_factor=2, mode="bilinear", align_corners=False)
        b_band = b - F.interpolate(b_low, scale_factor=2, mode="bilinear", align_corners=False)
        total = total + (a_band - b_band).abs().mean()
        a, b = a_low, b_low
    return total + (a - b).abs().mean()


# ---------------------------------------------------------------------------------------------
# Perceptual distance backends.

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"  # what torchvision's AlexNet_Weights.IMAGENET1K_V1 loads
PERCEPTUAL_ALTERNATIVES = (
    "offline alternatives: --perceptual ssim (structural similarity, the default), --perceptual laplacian "
    "(L1 of Laplacian-pyramid bands), --perceptual classifier (distances of the frozen classifier's features) "
    "or --perceptual none"
)


def check_lpips_available() -> None:
    """Fail fast, before any training, when LPIPS cannot run offline: the package or its AlexNet
    backbone weights are missing."""
    try:
        import lpips
    except ImportError:
        raise StylexError(
            "--perceptual lpips needs the `lpips` package, which is not installed; install it with "
            f"`pip install 'stylex[lpips]'` (or `pip install lpips`), or use the {PERCEPTUAL_ALTERNATIVES}"
        ) from None
    from pathlib import Path

    linear = Path(lpips.__file__).parent / "weights" / "v0.1" / "alex.pth"
    backbone = Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE
    where = {linear: "inside the lpips package", backbone: "torch's hub directory, $TORCH_HOME/hub/checkpoints"}
    for needed, place in where.items():
        if not needed.is_file():
            raise StylexError(
                f"--perceptual lpips needs the weights file {needed.name}, which is missing: torch looks for it "
                f"at {needed} ({place}). Run once online (it downloads itself) or copy the file there; "
                f"or use the {PERCEPTUAL_ALTERNATIVES}"
            )


class LpipsDistance(torch.nn.Module):
    """LPIPS (AlexNet) between [-1, 1] images, frozen; images under 64 px are up-sampled to 64."""

    def __init__(self):
        super().__init__()
        check_lpips_available()
        import lpips

        self.net = lpips.LPIPS(net="alex", verbose=False).eval().requires_grad_(False)

    def forward(self, a, b):
        if a.shape[-1] < 64:
            a = F.interpolate(a, size=64, mode="bilinear", align_corners=False)
            b = F.interpolate(b, size=64, mode="bilinear", align_corners=False)
        return self.net(a, b).mean()


# ---------------------------------------------------------------------------------------------
# The loss object.


@dataclass
class RealBatch:
    """One micro-batch of real images and what the frozen classifier says about them."""

    img: torch.Tensor  # [N, 3, R, R] in [-1, 1]
    logits: torch.Tensor  # C(x)
    c: torch.Tensor  # the generator's condition derived from the logits (--conditioning)
    d_c: torch.Tensor  # the discriminator's condition: always softmax(C(x))
    maps: list[torch.Tensor] | None = None  # C's feature maps of x (perceptual=classifier only)

    def rows(self, index) -> RealBatch:
        """The batch's images `index` with what the classifier says of them."""
        maps = None if self.maps is None else [m[index] for m in self.maps]
        return RealBatch(self.img[index], self.logits[index], self.c[index], self.d_c[index], maps)


class StylexLoss:
    """Runs one phase of StylEx training on one micro-batch and accumulates its gradients.

    Args:
        G, D, E: generator, discriminator, encoder (in train mode).
        classifier: frozen classifier: `classifier(x)` -> logits, `classifier.feature_maps(x)`.
        cfg: the run's TrainingConfig (loss weights, intervals, conditioning, perceptual kind).
        augment: callable applied to every image D sees.
        autocast: context-manager factory for the forward passes (mixed precision), or None.
        pl_mean: the path-length target, a one-element tensor kept by the caller (checkpointed).
        compile: torch.compile the main-phase forward passes (regularization phases stay eager,
            since they differentiate twice).
    """

    def __init__(self, G, D, E, classifier, cfg, augment, pl_mean, autocast=None, compile=False):
        self.G, self.D, self.E, self.C, self.cfg = G, D, E, classifier, cfg
        self.augment = augment
        self.pl_mean = pl_mean
        self.autocast = autocast or contextlib.nullcontext
        if cfg.perceptual not in PERCEPTUAL_KINDS:
            raise StylexError(f"--perceptual {cfg.perceptual}: unknown; allowed: {', '.join(PERCEPTUAL_KINDS)}")
        self.lpips = LpipsDistance().to(pl_mean.device) if cfg.perceptual == "lpips" else None
        run = torch.compile if compile else (lambda f: f)
        self.synthesis, self.run_D, self.run_E = run(G.synthesis), run(D), run(E)

    # -- shared pieces ------------------------------------------------------------------------

    def classify_real(self, img: torch.Tensor) -> RealBatch:
        """C(x) (and its feature maps when the perceptual term uses them), without gradients."""
        with torch.no_grad(), self.autocast():
            logits = self.C(img).float()
            maps = self.C.feature_maps(img) if self.cfg.perceptual == "classifier" else None
        return RealBatch(img, logits, condition_from_logits(logits, self.cfg.conditioning),
                         discriminator_condition(logits), maps)

    def _perceptual(self, fake: torch.Tensor, real: RealBatch) -> torch.Tensor:
        if self.cfg.perceptual == "classifier":
            return feature_distance(self.C.feature_maps(clamp_images(fake)), real.maps)
        if self.cfg.perceptual == "lpips":
            return self.lpips(fake, real.img)
        if self.cfg.perceptual == "ssim":
            return ssim_distance(fake, real.img)
        if self.cfg.perceptual == "laplacian":
            return laplacian_distance(fake, real.img)
        return fake.new_zeros(())

    def _noise_ws(self, n: int, device) -> torch.Tensor:
        """[n, num_ws, w_dim] latents from random z; with probability style_mixing an image takes
        its styles from a second z from a random layer on."""
        G = self.G
        ws = G.mapping(torch.randn(n, G.z_dim, device=device), update_w_avg=True)
        ws = ws.unsqueeze(1).repeat(1, G.num_ws, 1)
        if self.cfg.style_mixing > 0:
            other = G.mapping(torch.randn(n, G.z_dim, device=device))
            cutoff = torch.randint(1, G.num_ws, (n,), device=device)
            cutoff = torch.where(torch.rand(n, device=device) < self.cfg.style_mixing, cutoff, G.num_ws)
            later = torch.arange(G.num_ws, device=device).view(1, -1) >= cutoff.view(-1, 1)
            ws = torch.where(later.unsqueeze(2), other.unsqueeze(1), ws)
        return ws

    # -- phases ---------------------------------------------------------------------------------

    def encoder_phase(self, real: RealBatch, gain: float, warmup: bool = False):
        """Reconstruction step: returns (stats, total loss, (detached reconstructions, their D condition)).

        warmup: the autoencoder warm-up (TrainingConfig.warmup_kimg): only the reconstruction
        terms; neither D nor the classifier sees x', so the KL term cannot be met invisibly before
        G and E can draw the features at all.

        With `condition_swap` (after the warm-up), the first images of the batch are rendered with
        the condition of another class's image and judged as that image: classifier KL toward its
        C and the adversarial term under its D condition; the reconstruction terms see only the
        other images (at least one per batch), whose x' should equal x.
        """
        cfg = self.cfg
        n = real.img.shape[0]
        swapped = 0 if warmup else min(round(cfg.condition_swap * n), n - 1)
        judged = kept = real
        if swapped:
            index = torch.arange(n, device=real.img.device)
            index[:swapped] = other_class_partners(real.logits.argmax(1))[:swapped]
            judged, kept = real.rows(index), real.rows(slice(swapped, None))
        with self.autocast():
            w = self.run_E(real.img)
            fake = self.synthesis(self.G.styles(w, judged.c), noise_mode="random")
            rebuilt = fake[swapped:]
            zero = fake.new_zeros(())
            if warmup:
                adv = kl = zero
            else:
                adv = generator_adversarial(self.run_D(self.augment(fake), judged.d_c).float(), cfg.adv_loss)
                fake_logits = self.C(clamp_images(fake))
                kl = kl_divergence(judged.logits, fake_logits)
            rec_x = l1(rebuilt, kept.img)
            rec_p = self._perceptual(rebuilt, kept)
            # E(x) is the target, not a variable: moving it toward E(x') would reward a constant encoder.
            rec_w = l1(self.run_E(rebuilt), w[swapped:].detach()) if cfg.rec_w else zero
        loss = adv + cfg.rec_l1 * rec_x + cfg.rec_perceptual * rec_p + cfg.rec_w * rec_w + cfg.cls_weight * kl
        (loss * gain).backward()
        stats = {"G/adv_enc": adv, "G/rec_l1": rec_x, "G/rec_perceptual": rec_p, "G/rec_w": rec_w, "G/kl": kl}
        if swapped:  # how often the swapped renders are already their new class
            follows = fake_logits[:swapped].argmax(1) == judged.logits[:swapped].argmax(1)
            stats["G/swap_follows"] = follows.float().mean()
        return {k: v.detach() for k, v in stats.items()}, loss.detach(), (fake.detach(), judged.d_c)

    def noise_phase(self, real: RealBatch, gain: float):
        """Sampling step with the conditions of random real images (G gets real.c, D real.d_c):
        returns (stats, total loss, (detached fakes, their D condition))."""
        c, cfg = real.c, self.cfg
        with self.autocast():
            ws = self._noise_ws(c.shape[0], c.device)
            fake = self.synthesis(self.G.styles(ws, c), noise_mode="random")
            adv = generator_adversarial(self.run_D(self.augment(fake), real.d_c).float(), cfg.adv_loss)
            cycle = fake.new_zeros(())
            if cfg.latent_cycle:
                unmixed = (ws == ws[:, :1]).all(dim=2).all(dim=1)  # E can only invert one w per image
                if unmixed.any():
                    cycle = l1(self.run_E(fake[unmixed]).float(), ws[unmixed, 0].detach())
        loss = adv + cfg.latent_cycle * cycle
        (loss * gain).backward()
        stats = {"G/adv_noise": adv.detach(), **({"G/latent_cycle": cycle.detach()} if cfg.latent_cycle else {})}
        return stats, loss.detach(), (fake.detach(), real.d_c)

    def pl_phase(self, c: torch.Tensor, gain: float, reduce_mean=None):
        """Lazy path-length regularization on a shrunken batch (weight x interval).

        reduce_mean: averages a tensor over processes (so every process keeps the same target).
        """
        cfg, G = self.cfg, self.G
        n = max(1, c.shape[0] // cfg.pl_batch_shrink)
        with self.autocast():
            ws = G.mapping(torch.randn(n, G.z_dim, device=c.device)).unsqueeze(1).repeat(1, G.num_ws, 1)
            img = G.synthesis(G.styles(ws, c[:n]), noise_mode="random")
        lengths = path_lengths(img, ws, torch.randn_like(img))
        batch_mean = lengths.detach().mean()
        if reduce_mean is not None:
            batch_mean = reduce_mean(batch_mean)
        self.pl_mean.copy_(self.pl_mean.lerp(batch_mean, cfg.pl_decay))
        penalty = (lengths - self.pl_mean).square().mean()
        loss = penalty * cfg.pl_weight * cfg.pl_interval
        (loss * gain).backward()
        return {"G/pl_penalty": penalty.detach(), "G/pl_mean": self.pl_mean.detach().clone()}, loss.detach()

    def condition_sparsity_phase(self, gain: float):
        """The group-lasso penalty on G's condition weights (once per G step; no images)."""
        weights = self.G.condition_weights()
        spread = condition_spread(weights)
        loss = self.cfg.condition_sparsity * spread
        (loss * gain).backward()
        stats = {"G/condition_spread": spread.detach(),
                 "G/condition_channels": torch.tensor(float(condition_channels(weights)))}
        return stats, loss.detach()

    def d_phase(self, real: RealBatch, fakes: list[tuple[torch.Tensor, torch.Tensor]], gain: float):
        """D on augmented real images (with their D condition) and on the G step's fakes (each
        with the D condition it was rendered for)."""
        with self.autocast():
            real_scores = self.run_D(self.augment(real.img), real.d_c).float()
            fake_scores = torch.cat([self.run_D(self.augment(f), d_c).float() for f, d_c in fakes])
        loss = discriminator_adversarial(real_scores, fake_scores, self.cfg.adv_loss)
        (loss * gain).backward()
        stats = {"D/loss": loss, "D/real_score": real_scores.mean(), "D/fake_score": fake_scores.mean()}
        return {k: v.detach() for k, v in stats.items()}, loss.detach()

    def r1_phase(self, real: RealBatch, gain: float):
        """Lazy R1 on augmented real images: gamma / 2 x penalty x interval."""
        img = real.img.detach().requires_grad_(True)
        with self.autocast():
            scores = self.D(self.augment(img), real.d_c)
        penalty = r1_penalty(scores, img).mean()
        loss = penalty * (self.cfg.r1_gamma / 2) * self.cfg.r1_interval
        (loss * gain).backward()
        return {"D/r1_penalty": penalty.detach()}, loss.detach()
