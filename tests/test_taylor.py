"""Taylor-screened AttFind: the first-order estimate is the derivative of the exact effect, the
screen keeps the top candidates of every class, the screened effects are exact where computed and
0 elsewhere, and `--method taylor` records load and select like exact ones."""

import numpy as np
import pytest
import torch

from stylex.attfind.effects import EditSpec, ExactEffects, edit_values
from stylex.attfind.records import AnalysedImages, AttFindNetworks, RecordsOptions, compute_records, load_records
from stylex.attfind.selection import select_from_records
from stylex.attfind.taylor import TaylorEffects, screen, taylor_estimates
from stylex.errors import StylexError


@pytest.fixture(scope="module")
def model():
    """A tiny random G with non-zero biases and noise, a sensitive 3-class classifier, and the
    styles of 4 images with their min / max."""
    from stylex.networks import Generator

    torch.manual_seed(0)
    G = Generator(resolution=16, c_dim=3, z_dim=32, w_dim=32, mapping_layers=2, channel_base=256, channel_max=32)
    for layer in G.layers:
        layer.bias.data.normal_(0, 0.5)
        if hasattr(layer, "noise_strength"):
            layer.noise_strength.data.fill_(0.2)
    G = G.eval().requires_grad_(False)
    classifier = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2, padding=1), torch.nn.Tanh(),
                                     torch.nn.Flatten(), torch.nn.Linear(8 * 8 * 8, 3)).eval().requires_grad_(False)
    classifier[-1].weight.data *= 20
    with torch.no_grad():
        styles = G.styles(G.mapping(torch.randn(4, 32)), torch.softmax(torch.randn(4, 3), 1))
    space = G.stylespace()
    flat = space.flatten(styles)
    return G, classifier, styles, space, flat.min(0).values, flat.max(0).values


def one(styles, i=0):
    return [s[i : i + 1] for s in styles]


def test_estimate_is_the_derivative_of_the_exact_effect(model):
    G, classifier, styles, space, s_min, s_max = model
    st = one(styles)
    eps = 1e-3
    values = edit_values(space.flatten(st)[0], s_min, s_max, eps)
    estimate = taylor_estimates(G, classifier, st, space, values)
    exact = ExactEffects(batch=64).effects(G, classifier, st, EditSpec(space, s_min, s_max, eps)).effect
    assert estimate.shape == exact.shape == (2, space.size, 3)
    assert exact.abs().max() > 1e-4  # the tiny shift still moves the logits measurably
    # First order: the exact effect of a tiny shift equals the estimate up to second-order terms.
    err = (estimate - exact).norm() / exact.norm()
    assert err < 0.02, err


def test_screen_keeps_each_class_top_candidates():
    torch.manual_seed(1)
    estimate = torch.randn(2, 50, 3)
    keep = screen(estimate, 4)
    assert keep.shape == (2, 50) and keep.dtype == torch.bool
    for c in range(3):
        top = estimate[..., c].reshape(-1).topk(4).indices
        assert keep.reshape(-1)[top].all()
    assert 4 <= keep.sum() <= 12
    assert screen(estimate, 1000).all()  # more candidates than edits: everything
    assert not screen(estimate, 0).any()


def test_screened_effects_are_exact_where_computed_and_estimates_elsewhere(model):
    G, classifier, styles, space, s_min, s_max = model
    st = one(styles, 2)
    spec = EditSpec(space, s_min, s_max)
    exact = ExactEffects(batch=32).effects(G, classifier, st, spec).effect
    result = TaylorEffects(candidates=5, batch=7).effects(G, classifier, st, spec)
    computed = result.computed
    assert computed.shape == (2, space.size) and 5 <= computed.sum() <= 15
    torch.testing.assert_close(result.effect[computed], exact[computed], atol=1e-4, rtol=0)
    estimate = taylor_estimates(G, classifier, st, space, edit_values(space.flatten(st)[0], s_min, s_max, 1.0))
    torch.testing.assert_close(result.effect[~computed], estimate[~computed])
    assert not torch.allclose(estimate[computed], exact[computed], atol=1e-3)  # the big edits are not linear
    # The screen found the strongest pushes: each class's largest exact increase is among them.
    for c in range(3):
        best = exact[..., c].reshape(-1).argmax()
        assert computed.reshape(-1)[best], c
    full = TaylorEffects(candidates=2 * space.size).effects(G, classifier, st, spec)
    torch.testing.assert_close(full.effect, exact, atol=1e-4, rtol=0)


def test_taylor_records_have_the_exact_format(model, tmp_path):
    from stylex.networks import Encoder

    G, classifier, _, _, _, _ = model
    torch.manual_seed(0)
    E = Encoder(resolution=16, w_dim=32, channel_base=256, channel_max=32).eval()
    images = torch.rand(5, 3, 16, 16) * 2 - 1
    args = (AttFindNetworks(G, E, classifier), AnalysedImages(images, [0, 1, 2, 0, 1]), EditSpec.for_generator(G))
    options = RecordsOptions(batch=32, progress=False, meta={"t": 1})
    path = tmp_path / "records.h5"
    compute_records(path, *args, TaylorEffects(candidates=6, batch=32), options)
    rec = load_records(path)
    assert rec.method == "taylor" and rec.candidates == 6 and rec.complete
    assert rec.computed.shape == rec.effect.shape[:3] and rec.computed.any(axis=(1, 2)).all()
    exact = compute_records(tmp_path / "exact.h5", *args, "exact", options)
    assert exact.method == "exact" and exact.computed is None
    on = rec.computed.astype(bool)
    np.testing.assert_allclose(rec.effect[on], exact.effect[on], atol=1e-4)
    assert select_from_records(rec).attributes  # the selection reads it unchanged
    with pytest.raises(StylexError, match="method"):  # resuming with the other method is refused
        compute_records(path, *args, "exact", options)
    with pytest.raises(StylexError, match="--method"):
        compute_records(tmp_path / "x.h5", *args, "fast", options)


def test_cli_help_states_the_default_candidates():
    from stylex.attfind.taylor import DEFAULT_CANDIDATES
    from stylex.cli import build_parser

    help_text = build_parser()._subparsers._group_actions[0].choices["attfind"].format_help()
    assert f"default {DEFAULT_CANDIDATES}," in " ".join(help_text.split())


def test_estimate_is_the_derivative_of_the_clamped_render(model):
    """A generator whose output leaves [-1, 1]: the estimate is the derivative of C(clamp(G(s))), the
    image the evaluation classifies, checked against clamped renders of tiny edits made by hand."""
    import copy

    G, classifier, styles, space, s_min, s_max = model
    G = copy.deepcopy(G)
    for layer in G.layers:
        if layer.kind == "torgb":
            layer.weight.data *= 3
    st = one(styles, 1)

    def clamped_logits(s):
        return classifier(G.synthesis(s, noise_mode="const").clamp(-1, 1))[0]

    with torch.no_grad():
        assert (G.synthesis(st, noise_mode="const").abs() > 1).float().mean() > 0.2  # much of it saturates
        eps = 1e-3
        values = edit_values(space.flatten(st)[0], s_min, s_max, eps)
        estimate = taylor_estimates(G, classifier, st, space, values)
        base = clamped_logits(st)
        coords = torch.randperm(space.size, generator=torch.Generator().manual_seed(0))[:40]
        exact = torch.stack([torch.stack([clamped_logits(space.edit(st, k.view(1), values[d, k].view(1))) - base
                                          for k in coords]) for d in range(2)])
        fast = ExactEffects(batch=64).effects(G, classifier, st, EditSpec(space, s_min, s_max, eps)).effect[:, coords]
    assert exact.abs().max() > 1e-4
    err = (estimate[:, coords] - exact).norm() / exact.norm()
    assert err < 0.05, err
    torch.testing.assert_close(fast, exact, atol=2e-5, rtol=0)  # the exact effects are of clamped renders too
