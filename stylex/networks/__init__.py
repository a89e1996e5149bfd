"""StylEx networks: generator (mapping + synthesis), discriminator and encoder."""

from stylex.networks.discriminator import Discriminator, Encoder
from stylex.networks.generator import Generator

__all__ = ["Generator", "Discriminator", "Encoder"]
