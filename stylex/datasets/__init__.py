"""Datasets: data-spec strings -> torch Datasets of float [-1, 1] images and integer labels.

`open_dataset(spec, resolution, split)` is the entry point; see `dataset.py` for the spec forms
and the split rules, `sources.py` for each on-disk layout, `images.py` for decoding.
"""

from stylex.datasets.dataset import (
    DATA_SPEC_HELP,
    ON_BAD_IMAGE,
    SPLIT_CHOICES,
    ImageDataset,
    open_dataset,
    parse_spec,
)

__all__ = ["DATA_SPEC_HELP", "ON_BAD_IMAGE", "SPLIT_CHOICES", "ImageDataset", "open_dataset", "parse_spec"]
