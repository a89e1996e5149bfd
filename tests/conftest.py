import pytest
import torch

# Two pytest workers share two cores: one thread each avoids oversubscription.
torch.set_num_threads(1)


@pytest.fixture
def tiny_generator():
    """A 16 px generator small enough for fast tests, in eval mode."""
    from stylex.networks import Generator

    torch.manual_seed(0)
    G = Generator(resolution=16, c_dim=2, z_dim=32, w_dim=32, mapping_layers=2, channel_base=256, channel_max=32)
    return G.eval()


@pytest.fixture(scope="module")
def keyed():
    """A StylEx whose one deciding coordinate is known (tests/keyed_stylex.py): a 16 px keyed
    generator, an encoder whose w[0] is the image's mean brightness (so the key style is 4 x the
    mean), a brightness classifier (class 1 = bright) and six images, three dark and three bright."""
    from types import SimpleNamespace

    from keyed_stylex import BrightnessClassifier, MeanEncoder, make_keyed

    from stylex.networks import Generator

    torch.manual_seed(0)
    G = Generator(resolution=16, c_dim=2, z_dim=32, w_dim=32, mapping_layers=2, channel_base=256, channel_max=32)
    key = make_keyed(G, 4 * torch.eye(32)[0])
    means = torch.tensor([-0.6, -0.35, -0.1, 0.15, 0.4, 0.65])
    images = (means.view(-1, 1, 1, 1) + 0.05 * torch.randn(6, 3, 16, 16)).clamp(-1, 1)
    return SimpleNamespace(G=G.eval(), E=MeanEncoder(32), classifier=BrightnessClassifier(), images=images, key=key,
                           class_names=["dark", "bright"])
