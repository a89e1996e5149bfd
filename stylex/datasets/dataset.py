"""`open_dataset`: a data-spec string -> a torch Dataset of ([-1, 1] image, label) pairs.

Data specs (the `--data` argument of every command):
  DIR                          a world made by `stylex world`, else a folder per class
  folder:DIR                   DIR/<class>/<images>
  csv:DIR:FILE                 DIR plus FILE with columns filename,label[,split]
  celeba:DIR:ATTR              CelebA attribute ATTR (e.g. Male) as a binary label, official split
  ffhq-aging:DIR:TASK          FFHQ-Aging labels: gender, age (young < 40) or ageN
  plant-village:DIR            healthy vs sick
  afhq:DIR                     cat / dog / wild, official split
  world:DIR[:FACTOR]           a world, labelled by its recorded label or by FACTOR

Splits: an official split is used where the data has one (CelebA partition, AFHQ val, a
world's recorded split, a CSV `split` column). Elsewhere each file's split is a pure function of
(seed, its path relative to the data root) - 80 % train, 10 % val, 10 % test - so the same
files are held out on every run and machine and a file keeps its split when others are added.
`split_table()` writes that assignment out (train-classifier saves it beside the classifier).
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from stylex.datasets import sources
from stylex.datasets.images import DECODE_ERRORS, check_header, load_uint8
from stylex.errors import StylexError
from stylex.maths import from_uint8

SPLIT_CHOICES = ("train", "val", "test", "all")
ON_BAD_IMAGE = ("skip", "fail")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
_CACHE_LIMIT_BYTES = 512 * 2**20  # keep decoded images in memory when the split fits in this

DATA_SPEC_HELP = (
    "data spec: DIR (a world from `stylex world`, or one sub-folder per class), folder:DIR, "
    "csv:DIR:FILE (columns filename,label[,split]), celeba:DIR:ATTR, ffhq-aging:DIR:gender|age|ageN, "
    "plant-village:DIR, afhq:DIR, world:DIR[:FACTOR]"
)


def _hash_fraction(seed: int, relpath: str) -> float:
    """A uniform number in [0, 1) fixed by (seed, relative path): the same on every OS."""
    digest = hashlib.sha256(f"{seed}\0{relpath}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def relative_name(path: Path, root: Path) -> str:
    """The path relative to the data root as a POSIX string (absolute when outside the root)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def assign_splits(listing: sources.Listing, seed: int) -> list[str]:
    """Final 'train' / 'val' / 'test' of every file (official where given, hashed elsewhere)."""
    official = listing.splits or [""] * len(listing.paths)
    out = []
    for path, given in zip(listing.paths, official):
        if given in ("train", "val", "test"):
            out.append(given)
            continue
        u = _hash_fraction(seed, relative_name(path, listing.root))
        if given == "trainval":  # only test is official: carve val out of train at 1:8
            out.append("val" if u < SPLIT_FRACTIONS[1] / sum(SPLIT_FRACTIONS[:2]) else "train")
        else:
            train, val, _ = SPLIT_FRACTIONS
            out.append("train" if u < train else "val" if u < train + val else "test")
    return out


def parse_spec(spec: str) -> sources.Listing:
    """Turn a data spec (see the module docstring) into a Listing."""
    spec = str(spec)
    kind, sep, rest = spec.partition(":")
    if not sep or len(kind) == 1 or Path(spec).exists():  # a path (a drive letter is not a kind)
        path = Path(spec)
        if not path.exists():
            raise StylexError(f"--data {spec}: no such folder")
        from stylex.world import is_world

        return sources.world_listing(path) if is_world(path) else sources.folder_listing(path)

    def two(what: str) -> tuple[str, str]:
        root, s, arg = rest.rpartition(":")
        if not s or not root or not arg:
            raise StylexError(f"--data {spec}: expected {kind}:DIR:{what}")
        return root, arg

    if kind == "folder":
        return sources.folder_listing(rest)
    if kind == "csv":
        return sources.csv_listing(*two("FILE"))
    if kind == "celeba":
        return sources.celeba_listing(*two("ATTRIBUTE"))
    if kind == "ffhq-aging":
        return sources.ffhq_aging_listing(*two("gender|age|ageN"))
    if kind == "plant-village":
        return sources.plant_village_listing(rest)
    if kind == "afhq":
        return sources.afhq_listing(rest)
    if kind == "world":
        from stylex.world import FACTOR_NAMES

        root, s, label = rest.rpartition(":")
        if s and label in FACTOR_NAMES:
            return sources.world_listing(root, label)
        return sources.world_listing(rest)
    raise StylexError(f"--data {spec}: unknown kind {kind!r}; {DATA_SPEC_HELP}")


class ImageDataset(Dataset):
    """Images and integer labels of one split; items are (float32 [3, R, R] in [-1, 1], int).

    Attributes: class_names, num_classes, labels (np.ndarray of ints), paths, split, resolution,
    factors (name -> per-item array; the world's ground truth, else empty), meta, bad_files
    (paths skipped because they could not be read, with the reason).
    """

    def __init__(self, listing: sources.Listing, indices, resolution: int, split: str,
                 on_bad_image: str = "skip", name: str = ""):
        self.name = name
        self.split = split
        self.resolution = resolution
        self.on_bad_image = on_bad_image
        self.class_names = list(listing.class_names)
        self.num_classes = len(self.class_names)
        self.root = listing.root
        self.meta = dict(listing.meta)
        self.bad_files: list[tuple[Path, str]] = []
        keep = self._check_headers(listing, list(indices))
        self.paths = [listing.paths[i] for i in keep]
        self.labels = np.asarray([listing.labels[i] for i in keep], dtype=np.int64)
        self.factors = {k: np.asarray(v)[keep] for k, v in listing.factors.items()}
        if len(self.paths) == 0:
            raise StylexError(f"--data {name}: the {split} split is empty")
        fits = len(self.paths) * 3 * resolution * resolution <= _CACHE_LIMIT_BYTES
        self._cache: dict[int, torch.Tensor] | None = {} if fits else None

    def _check_headers(self, listing, indices: list[int]) -> list[int]:
        """Drop (skip) or reject (fail) files that do not open as images; return kept indices."""
        from tqdm import tqdm

        keep = []
        it = tqdm(indices, desc="checking images", unit="file", disable=len(indices) < 5000, leave=False)
        for i in it:
            path = listing.paths[i]
            reason = "file not found" if not path.is_file() else check_header(path)
            if reason is None:
                keep.append(i)
            else:
                self._bad(path, reason)
        return keep

    def _bad(self, path: Path, reason: str) -> None:
        if self.on_bad_image == "fail":
            raise StylexError(
                f"unreadable image {path} ({reason}); delete or replace it, or pass --on-bad-image skip"
            )
        self.bad_files.append((path, reason))
        warnings.warn(f"skipping unreadable image {path} ({reason}); "
                      f"{len(self.bad_files)} skipped so far", stacklevel=3)

    def __len__(self) -> int:
        return len(self.paths)

    def load_uint8(self, index: int) -> tuple[torch.Tensor, int]:
        """The image as uint8 [3, R, R] and its label; an undecodable file is skipped for the
        next readable one (on_bad_image='skip') or raises (on_bad_image='fail')."""
        for attempt in range(len(self.paths)):
            i = (index + attempt) % len(self.paths)
            if self._cache is not None and i in self._cache:
                return self._cache[i], int(self.labels[i])
            try:
                x = load_uint8(self.paths[i], self.resolution)
            except DECODE_ERRORS as exc:
                if not any(p == self.paths[i] for p, _ in self.bad_files):
                    self._bad(self.paths[i], f"{type(exc).__name__}: {exc}")
                continue
            if self._cache is not None:
                self._cache[i] = x
            return x, int(self.labels[i])
        raise StylexError(f"--data {self.name}: none of the {len(self.paths)} images could be read")

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x, y = self.load_uint8(index)
        return from_uint8(x), y

    def split_table(self) -> list[tuple[str, str]]:
        """(path relative to the data root, split) of every item, for persisting the split."""
        return [(relative_name(p, self.root), self.split) for p in self.paths]

    def __repr__(self) -> str:
        return (f"ImageDataset({self.name!r}, split={self.split}, n={len(self)}, "
                f"classes={self.class_names}, resolution={self.resolution})")


def open_dataset(spec: str, resolution: int, split: str = "train", seed: int = 0,
                 on_bad_image: str = "skip") -> ImageDataset:
    """Open one split of the dataset named by `spec` at `resolution` px.

    spec: a data spec (see DATA_SPEC_HELP).
    resolution: images are resized (shorter side) and centre-cropped to this square size.
    split: train, val, test (for worlds with a shortcut: the shortcut-broken one) or all.
    seed: seeds the hashed split where the data has no official one.
    on_bad_image: skip (warn, count in .bad_files) or fail (StylexError naming the file).
    """
    if split not in SPLIT_CHOICES:
        raise StylexError(f"split {split!r}: use one of {', '.join(SPLIT_CHOICES)}")
    if on_bad_image not in ON_BAD_IMAGE:
        raise StylexError(f"--on-bad-image {on_bad_image!r}: use skip or fail")
    if resolution < 1:
        raise StylexError(f"resolution {resolution}: must be positive")
    listing = parse_spec(spec)
    splits = assign_splits(listing, seed)
    indices = [i for i, s in enumerate(splits) if split in ("all", s)]
    return ImageDataset(listing, indices, resolution, split, on_bad_image, name=str(spec))
