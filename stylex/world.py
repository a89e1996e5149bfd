"""The synthetic world: seeded cartoon faces whose generating factors are known exactly.

Why it exists: StylEx explains a classifier by finding image attributes; on real data nobody
knows which attributes are "right". Here every image is drawn from independent, annotated
factors (smile, glasses, eye size, hair colour, skin tone, background, pose), so a classifier's
true cue is known, a spurious one can be planted (`shortcut`), and the factor oracle
(`stylex.oracle`) can tell which factor an edit of a generated image changed.

Rendering is a pure function of the factor values plus a few continuous nuisance values (head
position, head scale, background shade) that add variety without being annotated as factors.
It is vectorised in torch (signed distances of ellipses, rings and arcs over a pixel grid with
one-pixel anti-aliasing), so thousands of 32 px faces render per second on one CPU core.

A world directory written by `generate_world` holds:
  world.json         resolution, seed, label factor, shortcut, factor names, splits, version
  factors.csv        one row per image: filename, split, label, every factor, every nuisance
  images/NNNNNN.png  the images (8-bit RGB)
  contact_sheet.png  a grid of the first images, to look at
and is read by every stylex command as `--data DIR` (see `stylex.datasets`).
"""

from __future__ import annotations

import csv
import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from stylex import maths
from stylex.errors import StylexError

# Bumped whenever rendering changes, so cached oracle weights trained on older pictures are retrained.
WORLD_VERSION = 1
SPLITS = ("train", "val", "test")
DEFAULT_SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


@dataclass(frozen=True)
class Factor:
    """One annotated generating factor: its name and the names of its values (index = value)."""

    name: str
    values: tuple[str, ...]
    description: str

    @property
    def cardinality(self) -> int:
        return len(self.values)


# All factors are sampled independently and uniformly. Binary factors make good labels; the
# binary `background` is the one meant for `shortcut` (value i agrees with label class i).
FACTORS: tuple[Factor, ...] = (
    Factor("smile", ("frown", "smile"), "mouth curved down or up"),
    Factor("glasses", ("no_glasses", "glasses"), "dark round glasses over both eyes"),
    Factor("eye_size", ("small_eyes", "large_eyes"), "radius of the eyes"),
    Factor("hair_color", ("black", "brown", "blond", "red"), "colour of the hair"),
    Factor("skin_tone", ("light", "medium", "dark"), "colour of the face"),
    Factor("background", ("cool", "warm"), "blue or orange background"),
    Factor("pose", ("left", "front", "right"), "eyes and mouth turned left, centred or right"),
)
FACTOR_NAMES: tuple[str, ...] = tuple(f.name for f in FACTORS)

# Continuous per-image values (not factors): uniform ranges. They make every image distinct.
NUISANCES: dict[str, tuple[float, float]] = {
    "head_dx": (-0.06, 0.06),  # horizontal head offset, image half-widths
    "head_dy": (-0.05, 0.05),  # vertical head offset
    "head_scale": (0.92, 1.06),  # head size multiplier
    "shade": (-0.07, 0.07),  # background brightness offset
}

_SKIN = ((0.96, 0.82, 0.70), (0.80, 0.60, 0.42), (0.45, 0.30, 0.20))
_HAIR = ((0.08, 0.07, 0.07), (0.42, 0.25, 0.12), (0.93, 0.80, 0.35), (0.80, 0.22, 0.10))
_BACKGROUND = ((0.45, 0.65, 0.92), (0.96, 0.66, 0.34))
_EYE_WHITE = (0.97, 0.97, 0.97)
_DARK = (0.07, 0.07, 0.09)
_MOUTH = (0.55, 0.08, 0.12)
_EYE_RADIUS = (0.085, 0.145)  # small, large (image half-width units)


def factor(name: str) -> Factor:
    """The Factor called `name`, or a StylexError listing the known ones."""
    for f in FACTORS:
        if f.name == name:
            return f
    raise StylexError(f"unknown world factor {name!r}; known factors: {', '.join(FACTOR_NAMES)}")


def sample_factors(n: int, seed: int | np.random.Generator = 0) -> dict[str, np.ndarray]:
    """Draw `n` independent uniform factor values and nuisances: name -> array of length n."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    values: dict[str, np.ndarray] = {f.name: rng.integers(0, f.cardinality, n) for f in FACTORS}
    for name, (lo, hi) in NUISANCES.items():
        values[name] = rng.uniform(lo, hi, n).astype(np.float32)
    return values


def _coverage(distance: torch.Tensor, pixel: float) -> torch.Tensor:
    """Anti-aliased coverage of a shape from its signed distance (negative inside)."""
    return (0.5 - distance / pixel).clamp(0.0, 1.0)


def _ellipse(u, v, cx, cy, ax, ay) -> torch.Tensor:
    """Approximate signed distance to an axis-aligned ellipse (exact for circles)."""
    r = torch.sqrt(((u - cx) / ax) ** 2 + ((v - cy) / ay) ** 2)
    return (r - 1.0) * torch.minimum(ax, ay)


def _paint(img: torch.Tensor, mask: torch.Tensor, colour) -> torch.Tensor:
    """Alpha-blend `colour` (a [N, 3] tensor or an RGB triple) over img [N, 3, H, W] with mask [N, H, W]."""
    colour = torch.as_tensor(colour, dtype=img.dtype)
    if colour.dim() == 1:
        colour = colour.expand(img.shape[0], 3)
    m = mask.unsqueeze(1)
    return img * (1 - m) + colour[:, :, None, None] * m


def render(values: dict[str, np.ndarray | torch.Tensor], resolution: int) -> torch.Tensor:
    """Render faces from factor and nuisance values (as from `sample_factors`).

    Returns float32 [N, 3, resolution, resolution] in [-1, 1]. Missing nuisances default to the
    neutral value (centred head, scale 1, no shade), so `render({"smile": [1], ...}, 32)` works.
    """
    if resolution < 16:
        raise StylexError(f"world resolution {resolution} is too small; use 32 or more")
    n = len(next(iter(values.values())))

    def get(name: str, default: float) -> torch.Tensor:
        if name in values:
            return torch.as_tensor(np.asarray(values[name]), dtype=torch.float32).reshape(n, 1, 1)
        return torch.full((n, 1, 1), default)

    def idx(name: str) -> torch.Tensor:
        if name not in values:
            raise StylexError(f"render: missing factor {name!r}")
        return torch.as_tensor(np.asarray(values[name]), dtype=torch.long).reshape(n)

    R = resolution
    pixel = 2.0 / R
    coords = (torch.arange(R, dtype=torch.float32) + 0.5) * pixel - 1.0
    v, u = torch.meshgrid(coords, coords, indexing="ij")
    u, v = u[None], v[None]

    s = get("head_scale", 1.0)
    cx = get("head_dx", 0.0)
    cy = get("head_dy", 0.0) + 0.04
    pose = (idx("pose").float() - 1.0).reshape(n, 1, 1)
    fx = cx + pose * 0.15 * s  # centre line of the features, turned with the pose

    bg = torch.tensor(_BACKGROUND)[idx("background")] + get("shade", 0.0).reshape(n, 1)
    img = bg.clamp(0, 1)[:, :, None, None].expand(n, 3, R, R).clone()
    hair = torch.tensor(_HAIR)[idx("hair_color")]

    # hair behind the head, the face, then a fringe of hair over the top of the face
    img = _paint(img, _coverage(_ellipse(u, v, cx, cy - 0.10 * s, 0.66 * s, 0.74 * s), pixel), hair)
    face = _ellipse(u, v, cx, cy + 0.05 * s, 0.54 * s, 0.66 * s)
    img = _paint(img, _coverage(face, pixel), torch.tensor(_SKIN)[idx("skin_tone")])
    fringe = torch.maximum(face, v - (cy - 0.28 * s + 0.12 * s * ((u - cx) / (0.54 * s)) ** 2))
    img = _paint(img, _coverage(fringe, pixel), hair)

    # eyes: white ellipse with a dark pupil looking the way the head turns
    er = torch.tensor(_EYE_RADIUS)[idx("eye_size")].reshape(n, 1, 1) * s
    ey = cy - 0.04 * s
    for side in (-1.0, 1.0):
        ex = fx + side * 0.22 * s
        img = _paint(img, _coverage(_ellipse(u, v, ex, ey, er * 1.25, er), pixel), _EYE_WHITE)
        pupil = _ellipse(u, v, ex + pose * 0.3 * er, ey, er * 0.6, er * 0.6)
        img = _paint(img, _coverage(pupil, pixel), _DARK)

    # glasses: a ring around each eye and a bridge, painted only where glasses == 1
    has_glasses = idx("glasses").float().reshape(n, 1, 1)
    ring_r, ring_t = 0.20 * s, 0.035 * s
    frame = None
    for side in (-1.0, 1.0):
        ring = (torch.sqrt((u - (fx + side * 0.22 * s)) ** 2 + (v - ey) ** 2) - ring_r).abs() - ring_t
        frame = ring if frame is None else torch.minimum(frame, ring)
    bridge = torch.maximum((v - ey).abs() - ring_t, (u - fx).abs() - 0.04 * s)
    frame = torch.minimum(frame, bridge)
    img = _paint(img, _coverage(frame, pixel) * has_glasses, _DARK)

    # mouth: a parabola arc, centre below the corners for a smile and above them for a frown
    bend = (idx("smile").float() * 2.0 - 1.0).reshape(n, 1, 1) * 0.13 * s
    half_w = 0.22 * s
    du = (u - fx) / half_w
    arc = v - (cy + 0.34 * s + bend * (0.5 - du**2))
    mouth = torch.maximum(arc.abs() - 0.045 * s, (du.abs() - 1.0) * half_w)
    img = _paint(img, _coverage(mouth, pixel), _MOUTH)

    return (img * 2.0 - 1.0).clamp(-1.0, 1.0).contiguous()


def render_batched(values: dict[str, np.ndarray], resolution: int, batch: int | None = None):
    """Yield rendered chunks of at most `batch` images (default: ~256k pixels, cache-friendly)."""
    batch = batch or max(8, 2**18 // resolution**2)
    n = len(next(iter(values.values())))
    for start in range(0, n, batch):
        yield render({k: v[start : start + batch] for k, v in values.items()}, resolution)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] NCHW float -> uint8 NHWC, the file-writing edge."""
    return maths.to_uint8(images).permute(0, 2, 3, 1).numpy()


def parse_shortcut(text: str | tuple[str, float] | None, label: str) -> tuple[str, float] | None:
    """Parse `FACTOR:P` (e.g. `background:0.95`) and check it can be planted against `label`."""
    if text is None or text == "":
        return None
    if isinstance(text, tuple):
        name, p = text
    else:
        name, sep, p_text = str(text).partition(":")
        try:
            p = float(p_text) if sep else float("nan")
        except ValueError:
            p = float("nan")
        if not math.isfinite(p):
            raise StylexError(f"--shortcut {text!r}: expected FACTOR:P, e.g. background:0.95")
    f, lab = factor(name), factor(label)
    if not 0.0 <= p <= 1.0:
        raise StylexError(f"--shortcut {name}:{p}: the agreement P must be between 0 and 1")
    if f.name == lab.name:
        raise StylexError(f"--shortcut {name}: the shortcut factor must differ from the label factor")
    if f.cardinality != 2 or lab.cardinality != 2:
        raise StylexError(
            f"--shortcut {name}:{p} with --label {label}: both factors must be binary "
            f"(binary factors: {', '.join(x.name for x in FACTORS if x.cardinality == 2)})"
        )
    return f.name, float(p)


def assign_splits(n: int, rng: np.random.Generator, fractions=DEFAULT_SPLIT_FRACTIONS) -> np.ndarray:
    """Exact-count random split: array of 'train' / 'val' / 'test' strings."""
    counts = [int(round(n * f)) for f in fractions[:2]]
    counts.append(n - sum(counts))
    names = np.repeat(np.array(SPLITS), counts)
    return names[rng.permutation(n)]


def plant_shortcut(values, splits, label: str, shortcut: tuple[str, float], rng) -> None:
    """Make factor `shortcut[0]` equal the label with probability P in train/val (in place).

    The held-out `test` split keeps its independent draw, so agreement there is ~50 %: that is
    the shortcut-broken split.
    """
    name, p = shortcut
    planted = splits != "test"
    agree = rng.random(len(splits)) < p
    wanted = np.where(agree, values[label], 1 - values[label])
    values[name] = np.where(planted, wanted, values[name])


def contact_sheet(images: torch.Tensor, columns: int = 8, pad: int = 1) -> np.ndarray:
    """Tile [N, 3, R, R] images in [-1, 1] into one uint8 HWC picture with white gutters."""
    arr = to_uint8(images)
    n, r = arr.shape[0], arr.shape[1]
    rows = math.ceil(n / columns)
    sheet = np.full((rows * (r + pad) + pad, columns * (r + pad) + pad, 3), 255, np.uint8)
    for i in range(n):
        y, x = divmod(i, columns)
        sheet[pad + y * (r + pad) : pad + y * (r + pad) + r, pad + x * (r + pad) : pad + x * (r + pad) + r] = arr[i]
    return sheet


def generate_world(
    out_dir: str | Path,
    n: int,
    resolution: int = 32,
    label: str = "smile",
    shortcut: str | tuple[str, float] | None = None,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Write a world dataset of `n` images to `out_dir` and return its path.

    label: the factor whose value is each image's class label.
    shortcut: `FACTOR:P` - in train and val the binary FACTOR equals the binary label with
      probability P; in test it stays independent (the shortcut-broken split).
    seed: everything (factors, nuisances, splits, shortcut) follows from it.
    progress: show a progress bar while writing images.
    """
    from PIL import Image
    from tqdm import tqdm

    out = Path(out_dir)
    if n < 1:
        raise StylexError(f"--n {n}: a world needs at least one image")
    if resolution < 32 or resolution & (resolution - 1):
        raise StylexError(f"--resolution {resolution}: use a power of two of 32 or more")
    lab = factor(label)
    planted = parse_shortcut(shortcut, lab.name)
    if (out / "world.json").exists() or (out.exists() and any(out.iterdir())):
        raise StylexError(f"--out {out} already exists and is not empty; choose a new folder or delete it")
    rng = np.random.default_rng(seed)
    values = sample_factors(n, rng)
    splits = assign_splits(n, rng)
    if planted:
        plant_shortcut(values, splits, lab.name, planted, rng)

    (out / "images").mkdir(parents=True, exist_ok=True)
    digits = max(6, len(str(n - 1)))
    names = [f"images/{i:0{digits}d}.png" for i in range(n)]
    first: list[torch.Tensor] = []  # the first 64 images, for the contact sheet

    def write(item):  # PNG encoding and file writes release the GIL, so threads overlap them
        Image.fromarray(item[1]).save(out / item[0], compress_level=1)

    with tqdm(total=n, desc="rendering world", unit="img", disable=not progress) as bar, \
            ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        start = 0
        for chunk in render_batched(values, resolution):
            first.append(chunk[: 64 - sum(len(c) for c in first)])
            list(pool.map(write, zip(names[start : start + len(chunk)], to_uint8(chunk))))
            start += len(chunk)
            bar.update(len(chunk))

    with open(out / "factors.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "split", "label", *FACTOR_NAMES, *NUISANCES])
        for i in range(n):
            row = [names[i], splits[i], int(values[lab.name][i])]
            row += [int(values[k][i]) for k in FACTOR_NAMES]
            row += [f"{float(values[k][i]):.6f}" for k in NUISANCES]
            w.writerow(row)
    Image.fromarray(contact_sheet(torch.cat(first))).save(out / "contact_sheet.png")
    meta = {
        "format": "stylex-world",
        "world_version": WORLD_VERSION,
        "n": n,
        "resolution": resolution,
        "seed": seed,
        "label": lab.name,
        "class_names": list(lab.values),
        "shortcut": {"factor": planted[0], "agreement": planted[1]} if planted else None,
        "factors": {f.name: list(f.values) for f in FACTORS},
        "nuisances": {k: list(v) for k, v in NUISANCES.items()},
        "split_counts": {s: int((splits == s).sum()) for s in SPLITS},
    }
    (out / "world.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out


def is_world(path: str | Path) -> bool:
    """True when `path` is a directory written by `generate_world`."""
    return (Path(path) / "world.json").is_file()


def read_world(path: str | Path) -> tuple[dict, list[dict[str, str]]]:
    """world.json and the rows of factors.csv of a world directory, with clear errors if damaged."""
    path = Path(path)
    try:
        meta = json.loads((path / "world.json").read_text())
        with open(path / "factors.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, ValueError) as exc:
        raise StylexError(f"world {path} is damaged ({exc}); regenerate it with `stylex world`") from exc
    missing = [k for k in ("filename", "split", "label", *FACTOR_NAMES) if rows and k not in rows[0]]
    if meta.get("format") != "stylex-world" or missing:
        raise StylexError(f"world {path}: world.json or factors.csv is not a stylex world (missing {missing})")
    return meta, rows
