import pytest
import torch

from stylex.config import NETWORK_PRESETS, network_preset
from stylex.networks import Discriminator, Encoder, Generator
from stylex.networks.layers import modulated_conv2d
from stylex.runtime import seed_everything


def count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    "resolution,base,cmax", [(16, 256, 32), (32, 512, 16), (64, 1024, 32), (128, 512, 8)]
)
def test_shapes_at_several_resolutions_and_widths(resolution, base, cmax):
    G = Generator(resolution, c_dim=3, z_dim=16, w_dim=16, mapping_layers=2, channel_base=base, channel_max=cmax)
    D = Discriminator(resolution, c_dim=3, channel_base=base, channel_max=cmax)
    D_unc = Discriminator(resolution, c_dim=3, conditioning="unconditional", channel_base=base, channel_max=cmax)
    E = Encoder(resolution, w_dim=16, channel_base=base, channel_max=cmax)
    z, c = torch.randn(4, 16), torch.softmax(torch.randn(4, 3), dim=1)
    img = G(z, c)
    assert img.shape == (4, 3, resolution, resolution)
    assert torch.isfinite(img).all()
    assert D(img, c).shape == (4,)
    assert D_unc(img).shape == (4,)
    assert E(img).shape == (4, 16)
    styles = G.styles(G.mapping(z), c)
    assert len(styles) == G.num_ws
    assert [s.shape[1] for s in styles] == [l.in_channels for l in G.layers]


def test_forward_equals_styles_then_synthesis(tiny_generator):
    G = tiny_generator
    z, c = torch.randn(3, 32), torch.softmax(torch.randn(3, 2), 1)
    direct = G(z, c)
    staged = G.synthesis(G.styles(G.mapping(z), c))
    assert torch.equal(direct, staged)
    # Rendering the same styles with the same (const) noise twice gives the same image.
    assert torch.equal(G.synthesis(G.styles(G.mapping(z), c)), staged)


def test_one_coordinate_edit_changes_image_but_not_earlier_layers(tiny_generator):
    G = tiny_generator
    space = G.stylespace()
    styles = G.styles(G.mapping(torch.randn(1, 32)), torch.tensor([[0.3, 0.7]]))
    flat = space.flat_index("b8.conv1", 5)
    layer, channel = space.locate(flat)
    edited = space.edit(styles, torch.tensor([flat]), styles[layer][:, channel] + 3.0)

    for l in range(layer + 1):  # every state before the edited layer is identical
        a = G.run_layers(G.initial_state(1), styles, 0, l)
        b = G.run_layers(G.initial_state(1), edited, 0, l)
        assert torch.equal(a.x, b.x)
    after_a = G.run_layers(G.initial_state(1), styles, 0, layer + 1)
    after_b = G.run_layers(G.initial_state(1), edited, 0, layer + 1)
    assert not torch.allclose(after_a.x, after_b.x)
    assert (G.synthesis(styles) - G.synthesis(edited)).abs().max() > 1e-3
    # The edit built new tensors; the originals are untouched.
    assert not torch.equal(styles[layer], edited[layer])


def test_cached_partial_rendering_matches_full_rendering(tiny_generator):
    G = tiny_generator
    styles = G.styles(G.mapping(torch.randn(1, 32)), torch.tensor([[0.5, 0.5]]))
    full = G.synthesis(styles)
    for l in range(G.num_ws):
        state = G.run_layers(G.initial_state(1), styles, 0, l)
        batch = [s.expand(4, -1) for s in styles]
        finished = G.run_layers(state.expand(4), batch, l).img
        assert torch.allclose(finished, full.expand(4, -1, -1, -1), atol=1e-5)


@pytest.mark.parametrize("up", [False, True])
@pytest.mark.parametrize("demodulate", [False, True])
def test_fused_equals_non_fused(up, demodulate):
    torch.manual_seed(1)
    x, weight, styles = torch.randn(3, 8, 8, 8), torch.randn(5, 8, 3, 3), torch.randn(3, 8)
    a = modulated_conv2d(x, weight, styles, demodulate=demodulate, up=up, fused=True)
    b = modulated_conv2d(x, weight, styles, demodulate=demodulate, up=up, fused=False)
    assert a.shape == b.shape == (3, 5, 16 if up else 8, 16 if up else 8)
    assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)


def test_generator_fused_and_non_fused_forms_agree(tiny_generator):
    G = tiny_generator
    z, c = torch.randn(2, 32), torch.softmax(torch.randn(2, 2), 1)
    G.fused_modconv = True
    a = G(z, c)
    G.fused_modconv = False
    b = G(z, c)
    assert torch.allclose(a, b, atol=1e-4)
    G.fused_modconv = None
    assert G.modconv_fused() is False  # measured faster on CPU in every mode
    assert G.train().modconv_fused() is False


def test_gradients_flow_from_image_to_w_and_c(tiny_generator):
    G = tiny_generator
    w = torch.randn(2, 32, requires_grad=True)
    c = torch.softmax(torch.randn(2, 2), 1).requires_grad_(True)
    G(w=w, c=c).square().mean().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0
    assert c.grad is not None and c.grad.abs().sum() > 0


def test_wrong_condition_shape_is_a_clear_error(tiny_generator):
    with pytest.raises(ValueError, match=r"condition c must have shape \[2, 2\]"):
        tiny_generator(torch.randn(2, 32), torch.randn(2, 3))


def test_resolution_must_be_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        Generator(48)


def test_paper_preset_has_5760_modulated_conv_coordinates():
    G = network_preset("paper-256").build_generator()
    assert G.stylespace().size == 5760
    assert G.stylespace(include_torgb=True).size == 5760 + 5 * 512 + 256 + 128


def test_cpu_preset_is_small():
    cfg = network_preset("cpu-32")
    G, D, E = cfg.build_generator(), cfg.build_discriminator(), cfg.build_encoder()
    assert count(G) < 5_000_000 and count(D) < 5_000_000 and count(E) < 5_000_000
    assert G.stylespace().size == 4 * 128 + 2 * 64 + 32


def test_presets_build_with_their_resolution():
    for name, cfg in NETWORK_PRESETS.items():
        if cfg.resolution <= 64:
            assert cfg.build_generator().resolution == cfg.resolution, name


def test_determinism_under_fixed_seed():
    def sample():
        seed_everything(123)
        G = Generator(16, c_dim=2, z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=16)
        return G(torch.randn(2, 16), torch.softmax(torch.randn(2, 2), 1), noise_mode="random")

    assert torch.equal(sample(), sample())
