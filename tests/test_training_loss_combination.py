"""How `StylexLoss` combines its terms, each weight included, on stand-in networks small enough
that every term can be recomputed by hand: linear G, E, D and C on 2x2 images.

For each weighted term, the gradient of a phase with the weight at 0, 1 and 2 must change by
exactly the gradient of that term alone (computed here from the written-out formula), and the
returned total loss must be the weighted sum of the returned terms."""

from types import SimpleNamespace

import pytest
import torch

from stylex.training.losses import StylexLoss, other_class_partners

R, W_DIM, C_DIM = 2, 4, 2
PIXELS = 3 * R * R


class LinearG(torch.nn.Module):
    """mapping: z -> w linear; one style layer s = A [w, c]; image = tanh-free linear read of s."""

    z_dim, num_ws = 3, 1

    def __init__(self):
        super().__init__()
        self.map = torch.nn.Linear(self.z_dim, W_DIM)
        self.affine = torch.nn.Linear(W_DIM + C_DIM, 5)
        self.out = torch.nn.Linear(5, PIXELS)

    def mapping(self, z, update_w_avg=False):
        return self.map(z)

    def styles(self, w, c):
        if w.ndim == 3:
            w = w[:, 0]
        return [self.affine(torch.cat([w, c], dim=1))]

    def synthesis(self, styles, noise_mode="const"):
        return self.out(styles[0]).view(-1, 3, R, R)


class LinearE(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(PIXELS, W_DIM)

    def forward(self, x):
        return self.lin(x.flatten(1))


class LinearD(torch.nn.Module):
    """D(x, c) = d . x + e . c: its input gradient is d for every image, so R1 = |d|^2."""

    def __init__(self):
        super().__init__()
        self.d = torch.nn.Parameter(torch.randn(PIXELS))
        self.e = torch.nn.Parameter(torch.randn(C_DIM))

    def forward(self, x, c):
        return x.flatten(1) @ self.d + c @ self.e


class LinearC(torch.nn.Module):
    """A frozen linear classifier whose feature map is a fixed linear map of the image."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(PIXELS, C_DIM)
        self.lin.weight.data *= 4  # confident logits, so KL(p||q) and KL(q||p) clearly differ
        self.feat = torch.nn.Conv2d(3, 2, 1)
        self.requires_grad_(False)

    def forward(self, x):
        return self.lin(x.flatten(1))

    def feature_maps(self, x):
        return [self.feat(x)]


def config(**overrides):
    cfg = dict(perceptual="classifier", conditioning="probs", adv_loss="logistic", rec_l1=1.0, rec_perceptual=1.0,
               rec_w=1.0, cls_weight=1.0, r1_gamma=3.0, r1_interval=4, style_mixing=0.0, pl_batch_shrink=1,
               pl_decay=0.01, pl_weight=2.0, pl_interval=4, latent_cycle=0.0, condition_swap=0.0)
    cfg.update(overrides)
    return SimpleNamespace(**cfg)


def networks():
    torch.manual_seed(0)
    return LinearG(), LinearD(), LinearE(), LinearC()


def make_loss(nets, **overrides):
    G, D, E, C = nets
    return StylexLoss(G, D, E, C, config(**overrides), augment=lambda x: x, pl_mean=torch.zeros([]))


def real_images():
    return torch.randn(5, 3, R, R, generator=torch.Generator().manual_seed(1))


def grads(nets):
    """Every parameter's gradient (zeros for those that got none), flattened."""
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten()
                      for net in nets for p in net.parameters()])


def zero(nets):
    for net in nets:
        for p in net.parameters():
            p.grad = None


def encoder_grads(nets, gain=1.0, **weights):
    zero(nets)
    loss = make_loss(nets, **weights)
    stats, total, _ = loss.encoder_phase(loss.classify_real(real_images()), gain)
    return grads(nets), stats, total


def kl_by_hand(p_logits, q_logits):
    """KL(softmax(p) || softmax(q)) = sum_j p_j log(p_j / q_j), batch mean, written out."""
    p, q = torch.softmax(p_logits, 1), torch.softmax(q_logits, 1)
    return (p * (p / q).log()).sum(1).mean()


def encoder_terms(nets, index=None, swapped=0):
    """Each encoder-phase term recomputed from the stand-ins, differentiable. With a condition swap,
    image i is rendered with the condition of image index[i] and judged as it (adversarial and KL);
    the reconstruction terms see only the images from `swapped` on."""
    G, D, E, C = nets
    x = real_images()
    logits = C(x)
    index = torch.arange(len(x)) if index is None else index
    c = torch.softmax(logits, 1)[index]
    w = E(x)
    fake = G.synthesis(G.styles(w, c))
    kept = slice(swapped, None)
    fa, fb = C.feature_maps(fake[kept])[0], C.feature_maps(x[kept])[0]
    fa = fa / (fa.square().sum(1, keepdim=True).sqrt() + 1e-10)
    fb = fb / (fb.square().sum(1, keepdim=True).sqrt() + 1e-10)
    return {
        "adv": torch.nn.functional.softplus(-D(fake, c)).mean(),
        "rec_l1": (fake[kept] - x[kept]).abs().mean(),
        "rec_perceptual": (fa - fb).square().sum(1).mean(),
        "rec_w": (E(fake[kept]) - w[kept].detach()).abs().mean(),
        "cls_weight": kl_by_hand(logits[index], C(fake)),
    }


def term_grad(nets, name):
    zero(nets)
    encoder_terms(nets)[name].backward()
    return grads(nets)


STAT = {"rec_l1": "G/rec_l1", "rec_perceptual": "G/rec_perceptual", "rec_w": "G/rec_w", "cls_weight": "G/kl"}


def test_the_stand_in_kl_is_asymmetric():
    nets = networks()
    G, D, E, C = nets
    with torch.no_grad():
        x = real_images()
        fake = G.synthesis(G.styles(E(x), torch.softmax(C(x), 1)))
        forward, backward = kl_by_hand(C(x), C(fake)), kl_by_hand(C(fake), C(x))
    assert forward > 0.05 and abs(forward - backward) > 0.1 * forward  # the two orders differ clearly


def test_encoder_stats_are_the_terms_by_hand():
    nets = networks()
    _, stats, total = encoder_grads(nets, rec_l1=0.5, rec_perceptual=2.0, rec_w=3.0, cls_weight=1.5)
    with torch.no_grad():
        terms = encoder_terms(nets)
    assert stats["G/adv_enc"].item() == pytest.approx(terms["adv"].item(), rel=1e-5)
    for name, key in STAT.items():
        assert stats[key].item() == pytest.approx(terms[name].item(), rel=1e-5), key
    expected = terms["adv"] + 0.5 * terms["rec_l1"] + 2.0 * terms["rec_perceptual"] + 3.0 * terms["rec_w"] \
        + 1.5 * terms["cls_weight"]
    assert total.item() == pytest.approx(expected.item(), rel=1e-5)


def test_condition_swap_judges_the_first_images_as_an_image_of_another_class():
    """--condition-swap 0.4 on 5 images: images 0 and 1 get the condition (G's and D's) and the KL
    target of a partner of the other class; only images 2-4 are reconstruction targets."""
    nets = networks()
    loss = make_loss(nets, condition_swap=0.4)
    real = loss.classify_real(real_images())
    labels = real.logits.argmax(1)
    assert 0 < int(labels.sum()) < 5  # the stand-in batch has both classes
    zero(nets)
    torch.manual_seed(3)
    stats, total, (fake, d_c) = loss.encoder_phase(real, 1.0)
    torch.manual_seed(3)
    partners = other_class_partners(labels)
    assert (labels[partners] != labels).all()
    index = torch.arange(5)
    index[:2] = partners[:2]
    with torch.no_grad():
        terms = encoder_terms(nets, index, swapped=2)
        plain = encoder_terms(nets)
    torch.testing.assert_close(d_c, real.d_c[index])
    assert stats["G/adv_enc"].item() == pytest.approx(terms["adv"].item(), rel=1e-5)
    for name, key in STAT.items():
        assert stats[key].item() == pytest.approx(terms[name].item(), rel=1e-5), key
        assert terms[name].item() != pytest.approx(plain[name].item(), rel=1e-3), key  # the swap changes each
    assert total.item() == pytest.approx(sum(terms.values()).item(), rel=1e-5)
    assert 0.0 <= stats["G/swap_follows"].item() <= 1.0
    # The warm-up has no classifier term, so nothing is swapped: every image is a reconstruction target.
    warm, _, _ = loss.encoder_phase(real, 1.0, warmup=True)
    assert warm["G/rec_l1"].item() == pytest.approx(plain["rec_l1"].item(), rel=1e-5)
    assert "G/swap_follows" not in warm


def test_partners_have_another_label_when_one_exists():
    torch.manual_seed(0)
    labels = torch.tensor([0, 0, 1, 2, 2])
    for _ in range(20):
        assert (labels[other_class_partners(labels)] != labels).all()
    same = torch.tensor([1, 1, 1])
    assert other_class_partners(same).tolist() == [0, 1, 2]  # nobody to swap with: itself


@pytest.mark.parametrize("name", ["rec_l1", "rec_perceptual", "rec_w", "cls_weight"])
def test_each_encoder_weight_scales_exactly_its_terms_gradient(name):
    nets = networks()
    g0, _, _ = encoder_grads(nets, **{name: 0.0})
    g1, _, _ = encoder_grads(nets, **{name: 1.0})
    g2, stats, _ = encoder_grads(nets, **{name: 2.0})
    alone = term_grad(nets, name)
    assert alone.abs().max() > 1e-3  # the term does reach the parameters
    torch.testing.assert_close(g1 - g0, alone, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(g2 - g0, 2 * alone, rtol=1e-4, atol=1e-6)


def test_encoder_gain_scales_the_whole_gradient():
    nets = networks()
    g1, _, _ = encoder_grads(nets, gain=1.0)
    g3, _, _ = encoder_grads(nets, gain=3.0)
    torch.testing.assert_close(g3, 3 * g1, rtol=1e-5, atol=1e-6)
    # With every weight at 0 only the adversarial term is left.
    g_adv, _, total = encoder_grads(nets, rec_l1=0.0, rec_perceptual=0.0, rec_w=0.0, cls_weight=0.0)
    torch.testing.assert_close(g_adv, term_grad(nets, "adv"), rtol=1e-4, atol=1e-6)
    assert total.item() == pytest.approx(encoder_terms(nets)["adv"].item(), rel=1e-5)


def r1(nets, gamma, interval, gain=1.0):
    zero(nets)
    loss = make_loss(nets, r1_gamma=gamma, r1_interval=interval)
    stats, total = loss.r1_phase(loss.classify_real(real_images()), gain)
    return stats, total, nets[1].d.grad.clone()


@pytest.mark.parametrize("gamma, interval", [(3.0, 4), (0.5, 1), (10.0, 16)])
def test_r1_is_gamma_over_two_times_penalty_times_interval(gamma, interval):
    nets = networks()
    d = nets[1].d.detach()
    stats, total, grad = r1(nets, gamma, interval, gain=0.5)
    penalty = d.square().sum()  # |dD/dx|^2 of the linear D, the same for every image
    assert stats["D/r1_penalty"].item() == pytest.approx(penalty.item(), rel=1e-5)
    assert total.item() == pytest.approx((gamma / 2 * interval * penalty).item(), rel=1e-5)
    # d/dd of 0.5 * gamma / 2 * interval * |d|^2
    torch.testing.assert_close(grad, 0.5 * gamma * interval * d, rtol=1e-5, atol=1e-6)


def test_r1_gradient_is_linear_in_gamma():
    nets = networks()
    _, _, g1 = r1(nets, 1.0, 2)
    _, _, g2 = r1(nets, 2.0, 2)
    _, _, g0 = r1(nets, 0.0, 2)
    assert g0.abs().max() == 0
    torch.testing.assert_close(g2, 2 * g1, rtol=1e-5, atol=1e-7)


def test_d_phase_is_softplus_of_fake_plus_softplus_of_minus_real():
    nets = networks()
    G, D, E, C = nets
    loss = make_loss(nets)
    real = loss.classify_real(real_images())
    # each fake with the D condition it was rendered for (a condition-swapped batch has another)
    fakes = [(torch.randn(5, 3, R, R), real.d_c), (torch.randn(5, 3, R, R), real.d_c.flip(1))]
    zero(nets)
    stats, total = loss.d_phase(real, fakes, 2.0)
    with torch.no_grad():
        fake_scores = torch.cat([D(f, d_c) for f, d_c in fakes])
        expected = torch.nn.functional.softplus(fake_scores).mean() + \
            torch.nn.functional.softplus(-D(real.img, real.c)).mean()
    assert total.item() == pytest.approx(expected.item(), rel=1e-5)
    # dL/dd: mean over fakes of sigmoid(D) x - mean over reals of sigmoid(-D) x, times the gain.
    with torch.no_grad():
        fx = torch.cat([f.flatten(1) for f, _ in fakes])
        rx = real.img.flatten(1)
        want = (torch.sigmoid(fake_scores)[:, None] * fx).mean(0) - \
            (torch.sigmoid(-D(real.img, real.c))[:, None] * rx).mean(0)
    torch.testing.assert_close(D.d.grad, 2.0 * want, rtol=1e-5, atol=1e-6)


def noise_grads(nets, **weights):
    zero(nets)
    loss = make_loss(nets, **weights)
    real = loss.classify_real(real_images())
    torch.manual_seed(5)  # the phase's z
    stats, total, _ = loss.noise_phase(real, 1.0)
    return grads(nets), stats, total


def test_latent_cycle_adds_exactly_the_gradient_of_l1_of_e_of_g_of_w_against_w():
    nets = networks()
    G, D, E, C = nets
    g0, stats0, _ = noise_grads(nets)
    g2, stats2, total = noise_grads(nets, latent_cycle=2.0)
    zero(nets)
    torch.manual_seed(5)
    w = G.mapping(torch.randn(5, G.z_dim))
    fake = G.synthesis(G.styles(w, torch.softmax(C(real_images()), 1)))
    cycle = (E(fake) - w.detach()).abs().mean()
    cycle.backward()
    alone = grads(nets)
    assert "G/latent_cycle" not in stats0
    assert stats2["G/latent_cycle"].item() == pytest.approx(cycle.item(), rel=1e-5)
    assert total.item() == pytest.approx((stats2["G/adv_noise"] + 2.0 * cycle).item(), rel=1e-5)
    assert E.lin.weight.grad.abs().max() > 1e-3  # it trains the encoder
    torch.testing.assert_close(g2 - g0, 2 * alone, rtol=1e-4, atol=1e-6)
