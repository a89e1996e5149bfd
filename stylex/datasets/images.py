"""Reading image files: finding them in a stable order, decoding any mode to RGB, resizing.

The one place where files become tensors (float NCHW in [-1, 1]), so every dataset adapter gets
the same robust behaviour: upper-case extensions, grayscale / RGBA / palette / 16-bit / CMYK
images, and corrupt files named in the error.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"})
# Errors PIL raises for files that are not (complete) images.
DECODE_ERRORS = (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError)


def is_image_file(path: str | Path) -> bool:
    """True for a file with an image extension, in any letter case (.PNG, .Jpg, ...)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def find_images(root: str | Path) -> list[Path]:
    """All image files under `root` (recursively), sorted by their relative POSIX path.

    Sorting by the relative path string makes the order identical on every OS and file system
    (os.listdir order is not), so labels never get paired with the wrong file.
    """
    root = Path(root)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found += [Path(dirpath) / f for f in filenames if not f.startswith(".") and is_image_file(f)]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def check_header(path: Path) -> str | None:
    """None if `path` opens as an image (header only, fast); otherwise the reason it does not."""
    try:
        with Image.open(path) as im:
            im.size  # noqa: B018 - reading the header is the check
        return None
    except DECODE_ERRORS as exc:
        return f"{type(exc).__name__}: {exc}"


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB.

    16-bit and 32-bit grayscale are scaled (PIL's own conversion would clip them to white), float
    images with no value above 1 as [0, 1] (PIL's would make them black); transparent pixels are
    composited over white; palette, CMYK, YCbCr, LAB... use PIL's maps.
    """
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        peak = arr.max(initial=0)
        if im.mode.startswith("I;16") or peak > 255:
            top = 65535.0
        elif im.mode == "F" and peak <= 1:
            top = 1.0
        else:
            top = 255.0
        arr = np.clip(arr / top * 255.0, 0, 255).round().astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB") if im.mode != "RGB" else im


def resize_center_crop(im: Image.Image, resolution: int) -> Image.Image:
    """Scale the shorter side to `resolution` (antialiased), then crop the centre square."""
    w, h = im.size
    if (w, h) == (resolution, resolution):
        return im
    scale = resolution / min(w, h)
    nw, nh = max(resolution, round(w * scale)), max(resolution, round(h * scale))
    im = im.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=3.0)
    left, top = (nw - resolution) // 2, (nh - resolution) // 2
    return im.crop((left, top, left + resolution, top + resolution))


def load_uint8(path: Path, resolution: int) -> torch.Tensor:
    """Decode, convert to RGB, resize and crop: uint8 [3, R, R]. Raises DECODE_ERRORS on bad files."""
    with Image.open(path) as im:
        im.load()
        rgb = resize_center_crop(to_rgb(im), resolution)
        arr = np.array(rgb, dtype=np.uint8)
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


