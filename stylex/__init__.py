"""stylex: StylEx and AttFind in PyTorch.

Train a classifier-conditioned StyleGAN2 with an encoder, find the StyleSpace coordinates that
drive a classifier's decisions, and show them as counterfactual images.
"""

__version__ = "0.1.0"
