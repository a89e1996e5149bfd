"""StylEx training: losses, the training loop, DiffAugment, checkpoints and multi-process helpers.

Later stages load a finished run with `stylex.training.checkpoint.load_trained(run_dir)`.
"""
