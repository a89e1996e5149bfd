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
