"""Figures of an AttFind result on a tiny random model: example picking, panels, GIFs, summary,
per-image figures and index.html."""

import numpy as np
import pytest
import torch
from PIL import Image

from stylex import visualize
from stylex.attfind.editor import Editor
from stylex.attfind.selection import SelectionOptions, select_from_records


@pytest.fixture(scope="module")
def explained(tiny_records):
    G, classifier, records = tiny_records
    return Editor(G, classifier, records), select_from_records(records, SelectionOptions(top_k=3, threshold=0.05))


def test_pick_examples_follows_the_method(explained):
    editor, selection = explained
    a = selection.attributes[0]
    found = visualize.pick_examples(editor, a.coordinate, a.direction, a.toward_class, n=3, min_change=0.0)
    assert 1 <= len(found) <= 3
    # Candidates are images of the other classes, farthest from the target extreme first.
    assert all(editor.records.predicted[e.row] != a.toward_class for e in found)
    target = editor.target(a.coordinate, a.direction)
    distance = [abs(target - float(editor.coordinate_values([e.row])[0, a.coordinate])) for e in found]
    assert distance == sorted(distance, reverse=True)
    # The probabilities written on the pair are the classifier's on the rendered images.
    e = found[0]
    with torch.no_grad():
        p = torch.softmax(editor.logits(torch.stack([e.before, e.after])), 1)[:, a.toward_class]
    np.testing.assert_allclose([e.p_before, e.p_after], p.numpy(), atol=1e-6)
    # An unreachable probability change falls back to the strongest changes instead of nothing.
    fallback = visualize.pick_examples(editor, a.coordinate, a.direction, a.toward_class, n=2, min_change=2.0)
    assert len(fallback) == min(2, len(np.flatnonzero(editor.records.predicted != a.toward_class)))
    changes = [f.p_after - f.p_before for f in fallback]
    assert changes == sorted(changes, reverse=True)


def test_write_explanations(explained, tmp_path):
    editor, selection = explained
    index = visualize.write_explanations(editor, selection, tmp_path, top_k=2, n_examples=2, n_images=2,
                                         gif_frames=5, progress=False)
    html = index.read_text()
    for name in ("summary.png", "attribute_01.png", "attribute_02.gif", "image_0000.png"):
        assert (tmp_path / name).is_file() and name in html
    assert not (tmp_path / "attribute_03.png").exists()
    # The GIF sweeps forward and back: 5 + 3 frames; each frame shows the images at the display scale.
    gif = Image.open(tmp_path / "attribute_01.gif")
    assert gif.n_frames == 8
    assert gif.height == 16 * visualize.display_scale(16) + visualize.CAPTION
    summary = Image.open(tmp_path / "summary.png")
    assert summary.height > 2 * 16 * visualize.display_scale(16)  # two attribute rows


def test_image_helpers():
    img = torch.zeros(3, 4, 4)
    img[0] = 1.0  # red in [-1, 1]
    pil = visualize.to_pil(img, scale=3)
    assert pil.size == (12, 12) and pil.getpixel((0, 0)) == (255, 128, 128)
    tile = visualize.captioned(pil, "p=0.50")
    assert tile.size == (12, 12 + visualize.CAPTION)
    row = visualize.hstack([tile, tile], gap=2)
    assert row.size == (26, tile.height)
    assert visualize.vstack([row, row], gap=1).size == (26, 2 * tile.height + 1)
