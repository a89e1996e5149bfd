"""Each StylEx loss term, DiffAugment and the Fréchet distance on hand-computed cases."""

import math
import sys
import types

import pytest
import torch

from stylex import maths
from stylex.errors import StylexError
from stylex.maths import frechet_distance
from stylex.training import losses
from stylex.training.augment import DiffAugment, _cutout, _translate, parse_ops


def test_adversarial_losses_by_hand():
    scores = torch.tensor([0.0, math.log(3.0)])
    # softplus(-0) = ln 2, softplus(-ln 3) = ln(1 + 1/3)
    assert losses.generator_adversarial(scores).item() == pytest.approx((math.log(2) + math.log(4 / 3)) / 2)
    assert losses.generator_adversarial(scores, "hinge").item() == pytest.approx(-math.log(3) / 2)
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    fake_part = (math.log1p(math.exp(-2)) + math.log(2)) / 2  # softplus(fake)
    real_part = (math.log1p(math.exp(-2)) + math.log1p(math.exp(-0.5))) / 2  # softplus(-real)
    expected = fake_part + real_part
    assert losses.discriminator_adversarial(real, fake).item() == pytest.approx(expected)
    # hinge: relu(1 + fake) = [0, 1]; relu(1 - real) = [0, 0.5]
    assert losses.discriminator_adversarial(real, fake, "hinge").item() == pytest.approx(0.5 + 0.25)


def test_kl_divergence_by_hand():
    target = torch.tensor([[0.0, 0.0], [0.0, 0.0]])  # p = (1/2, 1/2)
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]])  # q = (1/4, 3/4) and (1/2, 1/2)
    first = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert maths.kl_divergence(target, logits).item() == pytest.approx(first / 2)
    assert maths.kl_divergence(logits, logits).item() == pytest.approx(0.0, abs=1e-7)


def test_l1_and_condition():
    assert losses.l1(torch.tensor([1.0, -1.0]), torch.tensor([0.0, 1.0])).item() == pytest.approx(1.5)
    logits = torch.tensor([[0.0, math.log(3.0)]])
    assert maths.condition_from_logits(logits, "probs")[0].tolist() == pytest.approx([0.25, 0.75])
    assert torch.equal(maths.condition_from_logits(logits, "logits"), logits)


def test_r1_penalty_of_a_linear_discriminator():
    a = torch.tensor([1.0, -2.0, 0.5]).view(1, 3, 1, 1)
    x = torch.randn(2, 3, 1, 1, requires_grad=True)
    scores = (a * x).sum(dim=[1, 2, 3])
    assert losses.r1_penalty(scores, x).tolist() == pytest.approx([5.25, 5.25])


def test_path_lengths_of_a_linear_generator():
    # img[n] = sum over layers of ws[n, l, :4] as a 2x2 image: d(img . y)/dws[n, l, d] = y[n, d] per layer,
    # so the length is |y[n]| with y = noise / sqrt(H * W) = noise / 2.
    ws = torch.randn(3, 2, 4, requires_grad=True)
    img = ws.sum(dim=1).view(3, 1, 2, 2)
    noise = torch.randn(3, 1, 2, 2)
    expected = (noise / 2).flatten(1).norm(dim=1)
    assert losses.path_lengths(img, ws, noise).tolist() == pytest.approx(expected.tolist(), rel=1e-5)


def test_feature_distance():
    a = [torch.tensor([1.0, 0.0]).view(1, 2, 1, 1).repeat(2, 1, 3, 3)]
    b = [torch.tensor([0.0, 5.0]).view(1, 2, 1, 1).repeat(2, 1, 3, 3)]
    assert losses.feature_distance(a, a).item() == pytest.approx(0.0, abs=1e-6)
    # unit vectors (1, 0) and (0, 1): squared distance 2 at every position; scale does not matter
    assert losses.feature_distance(a, b).item() == pytest.approx(2.0)


def test_lpips_missing_package_fails_with_alternatives(monkeypatch):
    monkeypatch.setitem(sys.modules, "lpips", None)  # import lpips -> ImportError
    with pytest.raises(StylexError, match="lpips.*--perceptual ssim.*--perceptual classifier.*--perceptual none"):
        losses.check_lpips_available()


def test_lpips_missing_weights_named_with_location(monkeypatch, tmp_path):
    package = tmp_path / "lpips"
    (package / "weights" / "v0.1").mkdir(parents=True)
    fake = types.ModuleType("lpips")
    fake.__file__ = str(package / "__init__.py")
    monkeypatch.setitem(sys.modules, "lpips", fake)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(StylexError, match="alex.pth"):
        losses.check_lpips_available()
    (package / "weights" / "v0.1" / "alex.pth").write_bytes(b"x")
    with pytest.raises(StylexError) as info:
        losses.check_lpips_available()
    message = str(info.value)
    assert losses.ALEXNET_FILE in message and str(tmp_path / "hub" / "checkpoints") in message
    assert "--perceptual classifier" in message and "--perceptual none" in message


def test_augment_ops_by_hand():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    moved = _translate(x, torch.tensor([[1, -1]]))  # shows input (r + 1, c - 1); zeros come in
    assert torch.equal(moved[0, 0, :3, 1:], x[0, 0, 1:, :3])
    assert moved[0, 0, 3].abs().sum() == 0 and moved[0, 0, :, 0].abs().sum() == 0
    cut = _cutout(torch.ones(1, 1, 4, 4), torch.tensor([[2, 2]]), 2)
    assert cut.sum().item() == 12 and cut[0, 0, 1:3, 1:3].sum().item() == 0
    with pytest.raises(StylexError, match="unknown op"):
        parse_ops("translation,blur")
    assert parse_ops("none") == ()


def test_augment_is_reproducible_differentiable_and_optional():
    x = torch.randn(6, 3, 8, 8, requires_grad=True)
    aug = DiffAugment(p=1.0, seed=3)
    state = aug.state_dict()
    y1 = aug(x)
    aug.load_state_dict(state)
    assert torch.equal(aug(x), y1)  # the saved state reproduces the same draws
    assert not torch.equal(y1, x)
    y1.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert torch.equal(DiffAugment(p=0.0)(x), x)
    assert torch.equal(DiffAugment(ops=())(x), x)


def test_frechet_distance():
    a = torch.randn(200, 3, generator=torch.Generator().manual_seed(0))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = torch.tensor([1.0, 2.0, 0.0])
    assert frechet_distance(a, a + shift) == pytest.approx(5.0, abs=1e-6)  # |shift|^2, same covariance
    assert frechet_distance(a, 2 * a) > 0.5  # covariance differs


class _Recorder:
    """Wraps a callable (a network, a method) and keeps what it was called with."""

    def __init__(self, fn, keep):
        self.fn, self.keep, self.seen = fn, keep, []

    def __call__(self, *args, **kwargs):
        self.seen.append(self.keep(*args))
        return self.fn(*args, **kwargs)


def _recorded_loss(**overrides):
    """A StylexLoss on the tiny networks whose D, G.styles and classifier record their inputs, and
    whose synthesis output is scaled by 5 (so it leaves [-1, 1])."""
    from training_fakes import tiny_classifier, tiny_config

    cfg = tiny_config(**overrides)
    torch.manual_seed(0)
    G, D, E = cfg.network.build_generator(), cfg.network.build_discriminator(), cfg.network.build_encoder()
    C = tiny_classifier()
    loss = losses.StylexLoss(G, D, E, C, cfg, lambda x: x, torch.zeros([]))
    loss.run_D = loss.D = _Recorder(D, lambda img, c: c.detach().clone())
    G.styles = _Recorder(G.styles, lambda w, c: c.detach().clone())
    synthesis = loss.synthesis
    loss.synthesis = lambda *a, **k: 5 * synthesis(*a, **k)

    class Classifier:
        def __init__(self):
            self.seen = []

        def __call__(self, x):
            self.seen.append(x.detach().clone())
            return C(x)

        def feature_maps(self, x):
            self.seen.append(x.detach().clone())
            return C.feature_maps(x)

    loss.C = Classifier()
    return loss


def test_discriminator_gets_probabilities_whatever_the_generator_conditioning():
    loss = _recorded_loss(conditioning="logits", perceptual="none")
    real = loss.classify_real(torch.rand(4, 3, 16, 16) * 2 - 1)
    probs = torch.softmax(real.logits, dim=1)
    assert torch.allclose(real.c, real.logits) and torch.allclose(real.d_c, probs)
    _, _, fake_enc = loss.encoder_phase(real, 1.0)
    _, _, fake_noise = loss.noise_phase(real, 1.0)
    loss.d_phase(real, [fake_enc, fake_noise], 1.0)
    loss.r1_phase(real, 1.0)
    # encoder, noise, d (real + 2 fakes), r1
    assert len(loss.D.seen) == 6
    for c in loss.D.seen:
        assert torch.allclose(c, probs), "D must be conditioned on softmax(C(x))"
    # G keeps the configured condition: the raw logits (encoder and noise phase)
    assert len(loss.G.styles.seen) == 2
    for c in loss.G.styles.seen:
        assert torch.allclose(c, real.logits)


def test_classifier_terms_see_clamped_fakes():
    loss = _recorded_loss(perceptual="classifier")
    real = loss.classify_real(torch.rand(4, 3, 16, 16) * 2 - 1)
    loss.C.seen.clear()
    stats, _, (fake, _) = loss.encoder_phase(real, 1.0)
    assert fake.abs().max() > 1  # the (scaled) generator leaves [-1, 1]
    assert len(loss.C.seen) == 2  # the KL term's C(fake) and the perceptual term's feature maps
    for x in loss.C.seen:
        assert torch.equal(x, fake.clamp(-1, 1))
    expected_kl = maths.kl_divergence(real.logits, loss.C(fake.clamp(-1, 1)))
    assert stats["G/kl"].item() == pytest.approx(expected_kl.item(), rel=1e-5)


def test_clamp_images_has_zero_gradient_outside_the_range():
    x = torch.tensor([-2.0, -0.5, 0.5, 3.0], requires_grad=True)
    y = maths.clamp_images(x)
    y.sum().backward()
    assert y.tolist() == [-1.0, -0.5, 0.5, 1.0]
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 0.0]


def test_ssim_distance_is_zero_for_equal_images_and_weighs_small_structures():
    from stylex.training.losses import l1, ssim_distance

    face = torch.full((1, 3, 32, 32), 0.2)
    face[:, :, 22, 12:20] = -0.8  # a thin dark mouth of 8 pixels
    assert float(ssim_distance(face, face)) < 1e-6
    no_mouth = face.clone()
    no_mouth[:, :, 22, 12:20] = 0.2
    # A uniform brightness change with the same L1 as removing the mouth.
    brighter = face + float(l1(face, no_mouth))
    assert abs(float(l1(face, brighter)) - float(l1(face, no_mouth))) < 1e-6
    assert float(ssim_distance(no_mouth, face)) > 5 * float(ssim_distance(brighter, face))


def test_laplacian_distance_counts_each_band_once():
    from stylex.training.losses import laplacian_distance

    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert float(laplacian_distance(x, x)) == 0
    # A constant offset lives only in the coarsest band: the distance is the offset.
    assert abs(float(laplacian_distance(x + 0.3, x)) - 0.3) < 1e-5
    # A one-pixel checkerboard lives in the finest band, which weighs as much as the coarse image.
    checker = (torch.arange(32).view(1, -1) + torch.arange(32).view(-1, 1)) % 2 * 0.2 - 0.1
    assert float(laplacian_distance(x + checker, x)) > 0.09
