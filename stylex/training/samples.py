"""Sample grids written during training: EMA noise samples, then real | reconstruction pairs, each
tile captioned with the classifier's most likely class (its name) and its probability. The real
images are drawn from every class in turn (`balanced_indices`), so a data set sorted by class
does not show only its first class."""

from __future__ import annotations

import torch
from PIL import Image, ImageDraw, ImageFont

from stylex.maths import condition_from_logits, to_uint8

CAPTION_H = 12  # pixels of caption strip under each tile


def to_pil(img: torch.Tensor, size: int) -> Image.Image:
    """One [3, R, R] image in [-1, 1] -> RGB PIL image of size x size (nearest-neighbour)."""
    arr = to_uint8(img).permute(1, 2, 0).numpy()
    return Image.fromarray(arr, "RGB").resize((size, size), Image.NEAREST)


def balanced_indices(labels, n: int) -> list[int]:
    """Up to n indices taking each class in turn (class 0's first image, class 1's first, ...,
    then each class's second, ...), every class's images in data order; a class that runs out
    is skipped. `labels` is a sequence of class indices (one per image)."""
    by_class: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_class.setdefault(int(y), []).append(i)
    queues = [by_class[c] for c in sorted(by_class)]
    out: list[int] = []
    depth = 0
    while len(out) < n and any(depth < len(q) for q in queues):
        out.extend(q[depth] for q in queues if depth < len(q))
        depth += 1
    return out[:n]


@torch.no_grad()
def render_sample_grid(G, E, classifier, images, z, conditioning, class_names, columns=8) -> Image.Image:
    """The grid for `images` [N, 3, R, R] (held-out reals) and latents z [N, z_dim].

    Rows of noise samples G(mapping(z_i), C(x_i)) come first, then rows of pairs
    (x_i | G(E(x_i), C(x_i))). Captions read `<class> <probability>` from the classifier.
    """
    device = next(G.parameters()).device
    x = images.to(device)
    logits = classifier(x).float()
    c = condition_from_logits(logits, conditioning)
    samples = G.synthesis(G.styles(G.mapping(z.to(device)), c))
    recs = G.synthesis(G.styles(E(x), c))
    pairs = torch.stack([x, recs], dim=1).flatten(0, 1)  # x0, rec0, x1, rec1, ...
    tiles = torch.cat([samples, pairs])
    probs = torch.softmax(classifier(tiles.clamp(-1, 1)).float(), dim=1)
    size = max(64, images.shape[-1])
    n_sample_rows = -(-len(samples) // columns)
    rows = n_sample_rows + -(-len(pairs) // columns)
    gap = 4  # blank pixels between the samples and the pairs
    grid = Image.new("RGB", (columns * size, rows * (size + CAPTION_H) + gap), "white")
    draw, font = ImageDraw.Draw(grid), ImageFont.load_default()
    for i, tile in enumerate(tiles):
        section_row = i // columns if i < len(samples) else n_sample_rows + (i - len(samples)) // columns
        col = i % columns if i < len(samples) else (i - len(samples)) % columns
        top = section_row * (size + CAPTION_H) + (gap if i >= len(samples) else 0)
        grid.paste(to_pil(tile, size), (col * size, top))
        p, k = probs[i].max(dim=0)
        name = class_names[int(k)] if int(k) < len(class_names) else str(int(k))
        draw.text((col * size + 2, top + size), f"{name[:8]} {float(p):.2f}", fill="black", font=font)
    return grid
