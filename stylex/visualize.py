"""Figures of an AttFind result: attribute panels, sweep GIFs, a Figure-4-like summary, per-image
explanations and an index.html that shows them all.

How examples are picked (docs/METHOD.md section 4.8): for an attribute moving coordinate k toward
class y, the candidates are the images the classifier does not put in y, ordered by how far their
coordinate is from the extreme the edit moves to; the [original | changed] pairs whose
probability of y rises by at least `min_change` are kept, in that order (if too few qualify, the
strongest of the rest fill the panel). Every image carries the classifier's probability of the
target class.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from stylex.attfind.editor import Editor
from stylex.attfind.selection import Attribute, Edit, Selection, explain_image
from stylex.maths import to_uint8

CAPTION = 14  # pixel height of a caption strip under an image
GAP = 4
BACKGROUND = (255, 255, 255)


def _font(size: int = 11):
    return ImageFont.load_default(size=size)


def display_scale(resolution: int) -> int:
    """Integer up-scaling so small images are shown at least ~128 px wide."""
    return max(1, 128 // resolution)


def to_pil(image: torch.Tensor, scale: int = 1) -> Image.Image:
    """[3, R, R] in [-1, 1] -> RGB PIL image, enlarged `scale` times (nearest neighbour)."""
    pixels = to_uint8(image).permute(1, 2, 0).numpy()
    pil = Image.fromarray(pixels)
    return pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST) if scale > 1 else pil


def text_image(lines: list[str], width: int, height: int, size: int = 11) -> Image.Image:
    """A white `width` x `height` image with `lines` of black text of font `size`."""
    img = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((3, 2 + i * (size + 3)), line, fill=(0, 0, 0), font=_font(size))
    return img


def captioned(image: Image.Image, caption: str) -> Image.Image:
    """An image with a caption strip under it."""
    out = Image.new("RGB", (image.width, image.height + CAPTION), BACKGROUND)
    out.paste(image, (0, 0))
    ImageDraw.Draw(out).text((2, image.height + 1), caption, fill=(0, 0, 0), font=_font(10))
    return out


def hstack(images: list[Image.Image], gap: int = GAP) -> Image.Image:
    """Images side by side, top-aligned, `gap` white pixels apart."""
    width = sum(i.width for i in images) + gap * max(0, len(images) - 1)
    out = Image.new("RGB", (max(width, 1), max((i.height for i in images), default=1)), BACKGROUND)
    x = 0
    for img in images:
        out.paste(img, (x, 0))
        x += img.width + gap
    return out


def vstack(images: list[Image.Image], gap: int = GAP) -> Image.Image:
    """Images one under another, left-aligned, `gap` white pixels apart."""
    height = sum(i.height for i in images) + gap * max(0, len(images) - 1)
    out = Image.new("RGB", (max((i.width for i in images), default=1), max(height, 1)), BACKGROUND)
    y = 0
    for img in images:
        out.paste(img, (0, y))
        y += img.height + gap
    return out


# -- picking and rendering examples -----------------------------------------------------------


@dataclass
class Example:
    """One image before and after an edit, with the probability of the target class."""

    row: int
    before: torch.Tensor  # [3, R, R]
    after: torch.Tensor
    p_before: float
    p_after: float


def attribute_directions(selection: Selection, attribute: Attribute) -> list[tuple[int, int]]:
    """(direction, target class) pairs to show for an attribute: its own, and for a binary selection
    the opposite direction toward the other class."""
    pairs = [(attribute.direction, attribute.toward_class)]
    if selection.mode == "binary":
        pairs.append((1 - attribute.direction, 1 - attribute.toward_class))
    return pairs


def probabilities(editor: Editor, images: torch.Tensor, target: int) -> np.ndarray:
    """The classifier's probability of class `target` for each image."""
    return torch.softmax(editor.logits(images), dim=1)[:, target].numpy()


def pick_examples(editor: Editor, coordinate: int, direction: int, target: int, n: int = 4,
                  min_change: float = 0.2, pool: int = 16) -> list[Example]:
    """Up to `n` examples of an edit toward `target` (see the module docstring).

    Args:
        editor: renders and classifies the records' images.
        coordinate, direction: the edit (analysed flat index; 0 toward the minimum, 1 the maximum).
        target: the class the edit should push toward; candidates are images not predicted as it.
        n: examples wanted.
        min_change: rise of the target probability that makes an example preferred.
        pool: how many of the farthest candidates are rendered (at least 4 n).
    """
    rows = np.flatnonzero(editor.records.predicted != target)
    if len(rows) == 0:
        return []
    distance = np.abs(editor.target(coordinate, direction) - editor.coordinate_values(rows)[:, coordinate].numpy())
    rows = rows[np.argsort(-distance, kind="stable")][: max(pool, 4 * n)]
    before = editor.render(editor.edited(rows, []))
    after = editor.render(editor.edited(rows, [Edit(coordinate, direction)]))
    p0, p1 = probabilities(editor, before, target), probabilities(editor, after, target)
    change = p1 - p0
    keep = [i for i in range(len(rows)) if change[i] >= min_change][:n]
    rest = [i for i in np.argsort(-change, kind="stable") if i not in keep]
    keep += rest[: n - len(keep)]
    return [Example(int(rows[i]), before[i], after[i], float(p0[i]), float(p1[i])) for i in keep]


def pair_tile(example: Example, scale: int) -> Image.Image:
    """[original | changed] with the target probability written under each."""
    return hstack([captioned(to_pil(example.before, scale), f"p={example.p_before:.2f}"),
                   captioned(to_pil(example.after, scale), f"-> {example.p_after:.2f}")], gap=1)


def layer_direction_figure(editor: Editor, layer: str, n: int = 4, strength: float = 1.0) -> Image.Image:
    """[original | moved] pairs for `stylex.evaluate.layer_directions`: one row per target class, the
    images of the other classes with style layer `layer` moved by the class-mean difference, and the
    target's probability under each (the images the move changes most first)."""
    from stylex.evaluate import layer_step

    index = [l.name for l in editor.full_space.layers].index(layer)
    predicted = editor.records.predicted
    resolution = editor.records.images.shape[-1]
    scale = display_scale(resolution)
    rows_out = []
    for target in (y for y in range(len(editor.class_names)) if (predicted == y).any()):
        tiles = [text_image([layer, "toward", editor.class_names[target]], 96, scale * resolution)]
        for source in (y for y in range(len(editor.class_names)) if y != target and (predicted == y).any()):
            rows = np.flatnonzero(predicted == source)
            cols, step = layer_step(editor, index, source, target, predicted, strength)
            moved = editor.styles[torch.as_tensor(rows, dtype=torch.long)].clone()
            moved[:, cols] += step
            before, after = editor.render(editor.edited(rows, [])), editor.render(moved)
            p0, p1 = probabilities(editor, before, target), probabilities(editor, after, target)
            for i in np.argsort(p0 - p1, kind="stable")[:n]:
                tiles.append(pair_tile(Example(int(rows[i]), before[i], after[i], float(p0[i]), float(p1[i])), scale))
        rows_out.append(hstack(tiles))
    return vstack(rows_out)


def _direction_label(editor: Editor, direction: int, target: int) -> str:
    return f"{'to max' if direction else 'to min'}: toward {editor.class_names[target]}"


def attribute_panel(editor: Editor, attribute: Attribute,
                    examples: dict[tuple[int, int], list[Example]]) -> Image.Image:
    """One attribute: a row of [original | changed] pairs per direction shown (`examples`: from
    `pick_examples`, keyed by (direction, target class))."""
    scale = display_scale(editor.records.layers[-1].resolution)
    header = text_image([f"#{attribute.rank} {attribute.name or attribute.coordinate}  score {attribute.score:.3f}"],
                        400, 18, size=12)
    rows = [header]
    for (direction, target), found in examples.items():
        rows.append(text_image([_direction_label(editor, direction, target) + f"  (p = probability of "
                                f"{editor.class_names[target]})"], 500, 16))
        pairs = [pair_tile(e, scale) for e in found]
        rows.append(hstack(pairs, gap=10) if pairs else text_image(["no images of the other classes"], 300, 16))
    return vstack(rows)


def sweep_images(editor: Editor, coordinate: int, rows: list[int], frames: int = 16) -> torch.Tensor:
    """[frames, len(rows), 3, R, R]: the images with one coordinate swept from its minimum to its
    maximum over the analysed images (the frames of `attribute_gif`; user studies lay them out their
    own way)."""
    values = np.linspace(editor.target(coordinate, 0), editor.target(coordinate, 1), frames)
    images = editor.render(torch.cat([editor.with_value(rows, coordinate, float(v)) for v in values]))
    return images.reshape(frames, len(rows), *images.shape[1:])


def write_loop_gif(pictures: list[Image.Image], path: str | Path, duration_ms: int = 80) -> Path:
    """Write frames as a looping GIF that plays them forward, then back (a seamless loop)."""
    import imageio.v3 as iio

    arrays = [np.asarray(p) for p in pictures]
    path = Path(path)
    iio.imwrite(path, np.stack(arrays + arrays[-2:0:-1]), duration=duration_ms, loop=0)
    return path


def attribute_gif(editor: Editor, coordinate: int, target: int, rows: list[int], path: str | Path,
                  frames: int = 16, duration_ms: int = 80) -> Path:
    """An animation sweeping one coordinate from its minimum to its maximum and back, for the given
    images side by side, each captioned with the probability of `target`."""
    scale = display_scale(editor.records.layers[-1].resolution)
    images = sweep_images(editor, coordinate, rows, frames)
    p = probabilities(editor, images.flatten(0, 1), target).reshape(frames, len(rows))
    pictures = [hstack([captioned(to_pil(images[f, j], scale), f"p({editor.class_names[target]})={p[f, j]:.2f}")
                        for j in range(len(rows))]) for f in range(frames)]
    return write_loop_gif(pictures, path, duration_ms)


def summary_figure(editor: Editor, attributes: list[Attribute],
                   examples: dict[int, dict[tuple[int, int], list[Example]]], n: int) -> Image.Image:
    """Like the paper's Figure 4: one row per attribute (label, then up to `n` pairs in each
    direction; `examples[rank]` as for `attribute_panel`)."""
    scale = display_scale(editor.records.layers[-1].resolution)
    rows = []
    for a in attributes:
        label = text_image([f"#{a.rank} {a.name or a.coordinate}", f"score {a.score:.3f}",
                            f"moves {a.images_moved} images"], 150, 50)
        cells = [label]
        for (direction, target), found in examples[a.rank].items():
            cells.append(vstack([text_image([_direction_label(editor, direction, target)], 2 * n * 60, 14),
                                 hstack([pair_tile(e, scale) for e in found[:n]], gap=8)], gap=1))
        rows.append(hstack(cells, gap=12))
    return vstack(rows, gap=10)


def image_figure(editor: Editor, selection: Selection, row: int, top_k: int = 5) -> Image.Image:
    """One image's explanation: the image, its `independent` top-k single edits toward the other
    class (each alone) and all of them together; then the same for the `subset` of the global
    attributes. The probability of the target class is written under every image."""
    scale = display_scale(editor.records.layers[-1].resolution)
    predicted = int(editor.records.predicted[row])
    logits = editor.records.base_logits[row].copy()
    logits[predicted] = -np.inf
    target = int(logits.argmax())  # the most likely other class
    name = editor.class_names[target]
    effect = editor.records.effect[row]
    source = predicted if selection.mode == "one-vs-one" else None
    lines = []
    for kind, candidates in (("independent", None), ("subset", selection.edits_toward(target, source))):
        chosen = explain_image(effect, target, top_k, candidates)
        edits = [Edit(k, d) for k, d, _ in chosen]
        flats = [editor.edited([row], [])] + [editor.edited([row], [e]) for e in edits]
        flats.append(editor.edited([row], edits))
        images = editor.render(torch.cat(flats))
        p = probabilities(editor, images, target)
        tiles = [captioned(to_pil(images[0], scale), f"original p={p[0]:.2f}")]
        for j, (k, d, _) in enumerate(chosen):
            tiles.append(captioned(to_pil(images[j + 1], scale),
                                   f"{editor.space.name(k)} {'+' if d else '-'} {p[j + 1]:.2f}"))
        tiles.append(captioned(to_pil(images[-1], scale), f"all {len(chosen)}: {p[-1]:.2f}"))
        lines.append(text_image([f"{kind}: top-{top_k} changes toward {name} (p = probability of {name})"], 600, 16))
        lines.append(hstack(tiles))
    return vstack(lines)


# -- everything at once -----------------------------------------------------------------------


def _html(selection: Selection, attributes: list[Attribute], image_rows: list[int], editor: Editor) -> str:
    names = editor.class_names
    out = ["<!doctype html><html><head><meta charset='utf-8'><title>AttFind explanations</title>",
           "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 8px;border-bottom:1px solid #ddd;"
           "vertical-align:top}img{image-rendering:pixelated}</style></head><body>",
           "<h1>AttFind explanations</h1>",
           f"<p>Records: {html.escape(str(editor.records.path))}; {editor.num_images} images; classes "
           f"{html.escape(', '.join(names))}; selection mode {selection.mode}. Each pair shows an image and "
           "the same image with one style coordinate changed; p is the classifier's probability of the "
           "class the change pushes toward.</p>",
           "<h2>Summary</h2><img src='summary.png'>", "<h2>Attributes</h2><table>",
           "<tr><th>rank</th><th>coordinate</th><th>direction</th><th>score</th><th>mean effect</th>"
           "<th>images moved</th><th>examples</th><th>animation</th></tr>"]
    for a in attributes:
        effect = ", ".join(f"{html.escape(n)} {v:+.3f}" for n, v in zip(names, a.mean_effect))
        out.append(f"<tr><td>{a.rank}</td><td>{html.escape(a.name or str(a.coordinate))}</td>"
                   f"<td>{'to max' if a.direction else 'to min'} &rarr; {html.escape(names[a.toward_class])}</td>"
                   f"<td>{a.score:.3f}</td><td>{effect}</td><td>{a.images_moved}</td>"
                   f"<td><img src='attribute_{a.rank:02d}.png'></td>"
                   f"<td><img src='attribute_{a.rank:02d}.gif'></td></tr>")
    out.append("</table><h2>Per-image explanations</h2>")
    for row in image_rows:
        out.append(f"<h3>image {row} (dataset index {int(editor.records.image_index[row])})</h3>"
                   f"<img src='image_{row:04d}.png'>")
    out.append("</body></html>")
    return "\n".join(out)


def write_explanations(editor: Editor, selection: Selection, out_dir: str | Path, top_k: int = 10,
                       n_examples: int = 4, n_images: int = 6, gif_frames: int = 16,
                       min_change: float = 0.2, progress: bool = True) -> Path:
    """Write every figure of a selection to `out_dir` and return its index.html.

    Args:
        editor: renders and classifies the records' images.
        selection: the attributes (from attributes.json).
        top_k: how many attributes get a panel, a GIF and a summary row.
        n_examples: image pairs per direction in panels and the summary.
        n_images: per-image explanation figures (images taken alternately from each predicted class).
        gif_frames: frames of each sweep (played forward and back).
        min_change: probability change an example must show to be preferred.
        progress: show a progress bar.
    """
    from tqdm.auto import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    attributes = selection.attributes[:top_k]
    examples = {}
    for a in tqdm(attributes, desc="attribute figures", unit="attr", disable=not progress):
        examples[a.rank] = {(d, y): pick_examples(editor, a.coordinate, d, y, n_examples, min_change)
                            for d, y in attribute_directions(selection, a)}
        attribute_panel(editor, a, examples[a.rank]).save(out / f"attribute_{a.rank:02d}.png")
        shown = [e.row for found in examples[a.rank].values() for e in found[:2]][:4] or [0]
        attribute_gif(editor, a.coordinate, a.toward_class, shown, out / f"attribute_{a.rank:02d}.gif", gif_frames)
    summary_figure(editor, attributes, examples, n_examples).save(out / "summary.png")
    predicted = editor.records.predicted
    by_class = [list(np.flatnonzero(predicted == c)) for c in range(editor.records.num_classes)]
    image_rows = [int(r) for group in zip(*by_class) for r in group][:n_images]
    image_rows = image_rows or list(range(min(n_images, editor.num_images)))
    for row in tqdm(image_rows, desc="image figures", unit="img", disable=not progress):
        image_figure(editor, selection, row, top_k=min(5, top_k)).save(out / f"image_{row:04d}.png")
    index = out / "index.html"
    index.write_text(_html(selection, attributes, image_rows, editor))
    return index
