"""Dataset adapters: each turns one on-disk layout into a `Listing` (files, labels, class names).

No pixels are read here. Each adapter is tested on a small fake tree of its layout
(tests/test_datasets.py); the expected layouts are described in each function's docstring.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stylex.datasets.images import find_images
from stylex.errors import StylexError


@dataclass
class Listing:
    """What an adapter found.

    paths / labels: one entry per image, in a stable sorted order.
    class_names: label i is called class_names[i].
    root: the folder split hashing is relative to (keeps splits identical on every machine).
    splits: per image 'train' / 'val' / 'test' where the dataset has an official split,
      'trainval' where only the test part is official, '' (or no list) where there is none.
    factors: optional per-image annotations (name -> array), e.g. the synthetic world's factors.
    meta: extra description (e.g. the world's shortcut) passed through to the dataset.
    """

    paths: list[Path]
    labels: list[int]
    class_names: list[str]
    root: Path
    splits: list[str] | None = None
    factors: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise StylexError(f"{what} {path} is not a folder")
    return path


def _check_classes(listing: Listing, where: str) -> Listing:
    """Every class must have at least one image; the dataset must not be empty."""
    if not listing.paths:
        raise StylexError(f"{where}: no images found (looked for .png .jpg .jpeg .bmp .gif .tif .webp)")
    counts = np.bincount(np.asarray(listing.labels), minlength=len(listing.class_names))
    empty = [listing.class_names[i] for i, c in enumerate(counts) if c == 0]
    if empty:
        raise StylexError(f"{where}: class(es) {', '.join(map(repr, empty))} have no images")
    return listing


def folder_listing(root: str | Path) -> Listing:
    """ROOT/<class name>/**/<image>: one sub-folder per class (sorted names = class order)."""
    root = _require_dir(Path(root), "data folder")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise StylexError(f"data folder {root} has no sub-folders; a folder dataset needs one sub-folder per class")
    paths, labels = [], []
    for i, name in enumerate(classes):
        files = find_images(root / name)
        paths += files
        labels += [i] * len(files)
    return _check_classes(Listing(paths, labels, classes, root), f"data folder {root}")


def _labels_from_strings(values: list[str], where: str) -> tuple[list[int], list[str]]:
    """Integer labels stay integers (class names '0'..'K-1'); names become sorted classes."""
    values = [v.strip() for v in values]
    if all(re.fullmatch(r"-?\d+", v) for v in values):
        ints = [int(v) for v in values]
        if min(ints) < 0:
            raise StylexError(f"{where}: negative label {min(ints)}; integer labels must be 0 .. K-1")
        return ints, [str(i) for i in range(max(ints) + 1)]
    names = sorted(set(values))
    index = {n: i for i, n in enumerate(names)}
    return [index[v] for v in values], names


def csv_listing(root: str | Path, csv_file: str | Path) -> Listing:
    """ROOT plus a CSV with columns `filename,label` (label: class name or integer); optional
    `split` column (train / val / test) is honoured. Filenames are relative to ROOT."""
    root = _require_dir(Path(root), "data folder")
    csv_path = Path(csv_file) if Path(csv_file).is_absolute() else root / csv_file
    if not csv_path.is_file():
        raise StylexError(f"labels CSV {csv_path} does not exist")
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"filename", "label"} <= set(rows[0]):
        raise StylexError(f"labels CSV {csv_path} must have a header with columns filename,label")
    for line, r in enumerate(rows, start=2):  # line 1 is the header
        if not (r["filename"] or "").strip() or not (r["label"] or "").strip():
            raise StylexError(f"labels CSV {csv_path} line {line}: empty filename or label; give both, or "
                              "delete the row")
    seen = Counter(r["filename"].strip() for r in rows)
    twice = sorted(name for name, count in seen.items() if count > 1)
    if twice:
        raise StylexError(f"labels CSV {csv_path}: {len(twice)} file(s) listed more than once (e.g. {twice[0]}); "
                          "keep one row (one label) per file")
    rows.sort(key=lambda r: r["filename"])
    labels, names = _labels_from_strings([r["label"] for r in rows], f"labels CSV {csv_path}")
    splits = [r.get("split", "") or "" for r in rows] if "split" in rows[0] else None
    bad = sorted({s for s in splits or [] if s not in ("", "train", "val", "test")})
    if bad:
        raise StylexError(f"labels CSV {csv_path}: unknown split value(s) {bad}; use train, val or test")
    listing = Listing([root / r["filename"] for r in rows], labels, names, root, splits)
    found = [i for i, p in enumerate(listing.paths) if p.is_file()]  # a class named only by missing files
    ghost = sorted({names[y] for y in labels} - {names[labels[i]] for i in found})  # a typo or missing folder
    if ghost and found:
        example = next(r["filename"] for r, y in zip(rows, labels) if names[y] == ghost[0])
        raise StylexError(f"labels CSV {csv_path}: class(es) {', '.join(map(repr, ghost))} name only files that "
                          f"do not exist (e.g. {example} under {root}); fix the filenames or the labels")
    return _check_classes(listing, f"labels CSV {csv_path}")


def _read_whitespace_table(path: Path) -> list[list[str]]:
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


def celeba_listing(root: str | Path, attribute: str) -> Listing:
    """CelebA: ROOT/list_attr_celeba.txt, ROOT/list_eval_partition.txt (optional; official
    0/1/2 = train/val/test) and the images in ROOT/img_align_celeba/ (or ROOT itself).
    The binary label is the attribute (+1 -> class 1 `ATTR`, -1 -> class 0 `not_ATTR`)."""
    root = _require_dir(Path(root), "CelebA folder")
    attr_file = root / "list_attr_celeba.txt"
    if not attr_file.is_file():
        raise StylexError(f"CelebA folder {root} has no list_attr_celeba.txt (the official attribute list)")
    table = _read_whitespace_table(attr_file)
    header = table[1]
    if attribute not in header:
        raise StylexError(f"celeba: unknown attribute {attribute!r}; choose one of: {', '.join(header)}")
    col = header.index(attribute) + 1
    rows = sorted((r for r in table[2:] if len(r) == len(header) + 1), key=lambda r: r[0])
    image_dir = next((d for d in (root / "img_align_celeba" / "img_align_celeba", root / "img_align_celeba")
                      if d.is_dir()), root)
    partition = {}
    part_file = root / "list_eval_partition.txt"
    if part_file.is_file():
        names = {"0": "train", "1": "val", "2": "test"}
        partition = {r[0]: names.get(r[1], "") for r in _read_whitespace_table(part_file) if len(r) == 2}
    listing = Listing(
        paths=[image_dir / r[0] for r in rows],
        labels=[int(r[col] == "1") for r in rows],
        class_names=[f"not_{attribute}", attribute],
        root=image_dir,
        splits=[partition.get(r[0], "") for r in rows] if partition else None,
    )
    return _check_classes(listing, f"celeba {root} ({attribute})")


FFHQ_AGE_GROUPS = ("0-2", "3-6", "7-9", "10-14", "15-19", "20-29", "30-39", "40-49", "50-69", "70-120")


def ffhq_aging_listing(root: str | Path, task: str) -> Listing:
    """FFHQ-Aging: the public labels CSV (ROOT/ffhq_aging_labels.csv, columns image_number,
    age_group, gender, ...) and the images anywhere under ROOT, named by image number
    (e.g. 00000/00042.png). task: `gender` (female / male), or `age` / `ageN`: young when
    the age group lies below N years (default 40), old otherwise."""
    root = _require_dir(Path(root), "FFHQ-Aging folder")
    labels_csv = root / "ffhq_aging_labels.csv"
    if not labels_csv.is_file():
        raise StylexError(f"FFHQ-Aging folder {root} has no ffhq_aging_labels.csv (the public labels file)")
    with open(labels_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    m = re.fullmatch(r"age(\d+)?", task)
    if task == "gender":
        names, key = ["female", "male"], lambda r: ["female", "male"].index(r["gender"].strip().lower())
    elif m:
        limit = int(m.group(1) or 40)
        names = [f"young_under_{limit}", f"old_{limit}_plus"]
        key = lambda r: int(int(r["age_group"].split("-")[0]) >= limit)  # noqa: E731
    else:
        raise StylexError(f"ffhq-aging: unknown label {task!r}; use gender, age or ageN (e.g. age30)")
    by_number = {}
    for p in find_images(root):
        if p.stem.isdigit():
            by_number.setdefault(int(p.stem), p)
    paths, labels = [], []
    for r in sorted(rows, key=lambda r: int(r["image_number"])):
        path = by_number.get(int(r["image_number"]))
        if path is not None:
            try:
                labels.append(key(r))
            except ValueError as exc:
                raise StylexError(f"{labels_csv}: bad row for image {r['image_number']}: {exc}") from exc
            paths.append(path)
    return _check_classes(Listing(paths, labels, names, root), f"ffhq-aging {root} ({task})")


def plant_village_listing(root: str | Path) -> Listing:
    """Plant-Village: folders named `<plant>___<condition>` (directly under ROOT or one level
    deeper, e.g. ROOT/color/); `<plant>___healthy` -> class `healthy`, all others -> `sick`."""
    root = _require_dir(Path(root), "Plant-Village folder")
    dirs = sorted(d for d in root.iterdir() if d.is_dir() and "___" in d.name)
    if not dirs:
        dirs = sorted(d for sub in root.iterdir() if sub.is_dir() for d in sub.iterdir()
                      if d.is_dir() and "___" in d.name)
    if not dirs:
        raise StylexError(f"Plant-Village folder {root} has no <plant>___<condition> sub-folders")
    paths, labels = [], []
    for d in dirs:
        files = find_images(d)
        paths += files
        labels += [0 if d.name.lower().endswith("___healthy") else 1] * len(files)
    order = sorted(range(len(paths)), key=lambda i: paths[i].relative_to(root).as_posix())
    listing = Listing([paths[i] for i in order], [labels[i] for i in order], ["healthy", "sick"], root)
    return _check_classes(listing, f"plant-village {root}")


AFHQ_CLASSES = ("cat", "dog", "wild")


def afhq_listing(root: str | Path) -> Listing:
    """AFHQ: ROOT/train/{cat,dog,wild} and ROOT/val/{cat,dog,wild} (the official split: val is
    our test; val is carved out of train), or ROOT/{cat,dog,wild} with no official split."""
    root = _require_dir(Path(root), "AFHQ folder")
    parts = [("train", "trainval"), ("val", "test")] if (root / "train").is_dir() else [(".", "")]
    paths, labels, splits = [], [], []
    for sub, split in parts:
        for i, name in enumerate(AFHQ_CLASSES):
            files = find_images(root / sub / name) if (root / sub / name).is_dir() else []
            paths += files
            labels += [i] * len(files)
            splits += [split] * len(files)
    listing = Listing(paths, labels, list(AFHQ_CLASSES), root, splits)
    return _check_classes(listing, f"afhq {root}")


def world_listing(root: str | Path, label: str | None = None) -> Listing:
    """A world written by `stylex world` (see stylex.world): its recorded splits (test is the
    shortcut-broken one), its factors, and as label the recorded label or another factor."""
    from stylex import world

    root = Path(root)
    meta, rows = world.read_world(root)
    factors = {name: np.array([int(r[name]) for r in rows]) for name in world.FACTOR_NAMES}
    if label is None or label == meta["label"]:
        labels, names = [int(r["label"]) for r in rows], list(meta["class_names"])
    else:
        f = world.factor(label)
        labels, names = factors[f.name].tolist(), list(f.values)
    for name in world.NUISANCES:
        if rows and name in rows[0]:
            factors[name] = np.array([float(r[name]) for r in rows], dtype=np.float32)
    listing = Listing(
        paths=[root / r["filename"] for r in rows],
        labels=labels,
        class_names=names,
        root=root,
        splits=[r["split"] for r in rows],
        factors=factors,
        meta={"world": meta, "label_factor": label or meta["label"]},
    )
    return _check_classes(listing, f"world {root}")
