"""Direction semantics end to end, on a StylEx whose explanation is known (tests/keyed_stylex.py):
one coordinate k decides the image's brightness (its sign: bright when positive), the classifier
calls bright images class 1, and nothing else changes the image.

So "direction 0" (toward the coordinate's minimum over the analysed images) must lower k and push
toward class 0 ("dark"), and "direction 1" the opposite, in every place that names a direction:
`edit_values`, the records' effects, `Editor`, the selection, the figures' captions, the sweep
GIF's frame order and the flip counts of the evaluation."""

import numpy as np
import pytest
import torch
from PIL import Image

from stylex import evaluate, visualize
from stylex.attfind.editor import Editor
from stylex.attfind.effects import EditSpec, ExactEffects, ReferenceEffects, edit_values
from stylex.attfind.records import AnalysedImages, AttFindNetworks, RecordsOptions, compute_records
from stylex.attfind.selection import SelectionOptions, select_from_records

DARK, BRIGHT = 0, 1


@pytest.fixture(scope="module")
def records(keyed, tmp_path_factory):
    return compute_records(tmp_path_factory.mktemp("direction") / "records.h5",
                           AttFindNetworks(keyed.G, keyed.E, keyed.classifier),
                           AnalysedImages(keyed.images, class_names=keyed.class_names), EditSpec.for_generator(keyed.G),
                           "exact", RecordsOptions(batch=64, progress=False))


@pytest.fixture(scope="module")
def editor(keyed, records):
    return Editor(keyed.G, keyed.classifier, records)


def test_edit_values_direction_0_is_toward_the_minimum():
    s = torch.tensor([0.0, 2.0, -1.0])
    lo, hi = torch.tensor([-1.0, -3.0, -1.0]), torch.tensor([1.0, 5.0, 4.0])
    values = edit_values(s, lo, hi, 1.0)
    assert values.tolist() == [[-1.0, -3.0, -1.0], [1.0, 5.0, 4.0]]
    half = edit_values(s, lo, hi, 0.5)
    assert half.tolist() == [[-0.5, -0.5, -1.0], [0.5, 3.5, 1.5]]
    assert (half[0] <= s).all() and (half[1] >= s).all()


def test_the_key_decides_the_image(keyed, records):
    # The stand-in as described: the key style is 4 x the image mean, its sign decides the class.
    key_values = records.styles[:, records.full_index[keyed.key]]
    np.testing.assert_allclose(key_values, 4 * keyed.images.mean(dim=[1, 2, 3]).numpy(), rtol=1e-5)
    assert records.predicted.tolist() == [DARK, DARK, DARK, BRIGHT, BRIGHT, BRIGHT]
    assert records.style_min[keyed.key] < 0 < records.style_max[keyed.key]


def test_records_effect_0_is_toward_the_minimum(keyed, records):
    k = keyed.key
    effect = records.effect  # [N, 2, S, C]
    bright = records.predicted == BRIGHT
    # Toward the minimum: bright images turn dark, the dark-class logit rises and the bright one falls.
    assert (effect[bright, 0, k, DARK] > 1).all() and (effect[bright, 0, k, BRIGHT] < -1).all()
    assert np.abs(effect[~bright, 0, k]).max() < 1e-4  # dark images stay dark
    # Toward the maximum: the opposite.
    assert (effect[~bright, 1, k, BRIGHT] > 1).all() and (effect[~bright, 1, k, DARK] < -1).all()
    assert np.abs(effect[bright, 1, k]).max() < 1e-4
    # No other coordinate changes anything.
    others = np.delete(effect, k, axis=2)
    assert np.abs(others).max() < 1e-4


def test_fast_and_reference_effects_agree_with_the_editor(keyed, records, editor):
    """The records (fast path), the one-at-a-time reference and Editor's own edits give the same
    logit changes for both directions (Editor computes its targets independently of edit_values)."""
    k, rows = keyed.key, list(range(records.num_images))
    base = editor.logits(editor.base_images(rows))
    space, lo, hi = records.space, torch.from_numpy(records.style_min), torch.from_numpy(records.style_max)
    for direction in (0, 1):
        flat = editor.edited(rows, [(k, direction)])
        column = flat[:, records.full_index[k]]
        target = records.style_min[k] if direction == 0 else records.style_max[k]
        assert torch.allclose(column, torch.full_like(column, float(target)))
        changed = editor.logits(editor.render(flat)) - base
        np.testing.assert_allclose(changed.numpy(), records.effect[:, direction, k], atol=1e-4)
    original = editor.coordinate_values(rows)[:, k]
    assert (editor.edited(rows, [(k, 0)])[:, records.full_index[k]] <= original).all()
    assert (editor.edited(rows, [(k, 1)])[:, records.full_index[k]] >= original).all()
    for row in (0, 5):
        styles = records.full_space.unflatten(torch.from_numpy(records.styles[row : row + 1]))
        ref = ReferenceEffects().effects(keyed.G, keyed.classifier, styles, EditSpec(space, lo, hi))
        fast = ExactEffects(batch=64).effects(keyed.G, keyed.classifier, styles, EditSpec(space, lo, hi))
        np.testing.assert_allclose(ref.effect[:, k].numpy(), records.effect[row, :, k], atol=1e-4)
        np.testing.assert_allclose(fast.effect.numpy(), records.effect[row], atol=1e-4)


def test_selection_names_the_key_to_min_toward_dark(keyed, records):
    selection = select_from_records(records, SelectionOptions(top_k=3))
    top = selection.attributes[0]
    assert (top.coordinate, top.direction, top.toward_class) == (keyed.key, 0, DARK)
    # Nothing else moves the classifier (the search may still rank float-rounding noise after the key).
    assert all(abs(a.score) < 1e-4 and a.images_moved == 0 for a in selection.attributes[1:])
    assert top.mean_effect[DARK] > 0 > top.mean_effect[BRIGHT]
    assert top.images_moved == records.num_images  # bright images toward dark, dark ones (flipped) toward bright
    # One list per class: toward dark the key goes to its minimum, toward bright to its maximum.
    lists = {lst.target: lst.attributes[0] for lst in selection.lists}
    assert (lists[DARK].coordinate, lists[DARK].direction) == (keyed.key, 0)
    assert (lists[BRIGHT].coordinate, lists[BRIGHT].direction) == (keyed.key, 1)
    assert selection.edits_toward(DARK, BRIGHT)[0] == (keyed.key, 0)
    assert selection.edits_toward(BRIGHT, DARK)[0] == (keyed.key, 1)
    one_vs_all = select_from_records(records, SelectionOptions(top_k=3, mode="one-vs-all"))
    assert {(a.coordinate, a.direction, a.toward_class) for a in one_vs_all.attributes if a.score > 1e-4} == {
        (keyed.key, 0, DARK), (keyed.key, 1, BRIGHT)}


def test_evaluation_flips_every_image_with_the_key_and_none_without(keyed, records, editor):
    selection = select_from_records(records, SelectionOptions(top_k=3))
    result = evaluate.sufficiency(editor, selection, top_k=1)
    assert result["flip_rate"] == 1.0 and result["curve"][0]["flips"] == records.num_images
    # Any coordinate but the key flips nothing.
    others = [c for c in range(records.space.size) if c != keyed.key]
    none = evaluate.flip_curve(editor, lambda target, source: [(others[3], 1), (others[-1], 0)], top_k=2)
    assert [c["flip_rate"] for c in none["curve"]] == [0.0, 0.0]
    # The key in the wrong direction flips nothing either.
    wrong = evaluate.flip_curve(editor, lambda target, source: [(keyed.key, 1 - target)], top_k=1)
    assert wrong["flip_rate"] == 0.0


def capture_text(monkeypatch):
    """Record every text drawn by the figures (headers and captions), in drawing order."""
    texts = []
    text_image, captioned = visualize.text_image, visualize.captioned

    def text(lines, *args, **kwargs):
        texts.extend(lines)
        return text_image(lines, *args, **kwargs)

    def caption(image, line):
        texts.append(line)
        return captioned(image, line)

    monkeypatch.setattr(visualize, "text_image", text)
    monkeypatch.setattr(visualize, "captioned", caption)
    return texts


def test_figure_captions_match_the_edits(keyed, records, editor, monkeypatch):
    selection = select_from_records(records, SelectionOptions(top_k=3))
    top = selection.attributes[0]
    assert visualize.attribute_directions(selection, top) == [(0, DARK), (1, BRIGHT)]
    examples = {(d, y): visualize.pick_examples(editor, top.coordinate, d, y, n=2, min_change=0.2)
                for d, y in visualize.attribute_directions(selection, top)}
    for (d, y), found in examples.items():
        assert len(found) == 2
        for e in found:
            assert records.predicted[e.row] != y and e.p_after > 0.9 > 0.1 > e.p_before
            # to min darkens, to max brightens
            assert (e.after.mean() < e.before.mean()) == (d == 0)
    texts = capture_text(monkeypatch)
    visualize.attribute_panel(editor, top, examples)
    # Under each direction's label come its pairs: "p=<before>" then "-> <after>", the after higher.
    labels = [i for i, t in enumerate(texts) if t.startswith(("to min", "to max"))]
    assert [texts[i].split("  ")[0] for i in labels] == ["to min: toward dark", "to max: toward bright"]
    for start in labels:
        before, after = texts[start + 1], texts[start + 2]
        assert before.startswith("p=") and after.startswith("-> ")
        assert float(after[3:]) > float(before[2:])


def test_per_image_figure_and_gif_frame_order(keyed, records, editor, monkeypatch, tmp_path):
    bright_row = 5
    texts = capture_text(monkeypatch)
    visualize.image_figure(editor, select_from_records(records, SelectionOptions(top_k=3)), bright_row, top_k=1)
    name = records.space.name(keyed.key)
    # A bright image explained toward dark: the key, lowered ("-"), raises p(dark) to ~1.
    assert f"{name} - 1.00" in texts and not any(t.startswith(f"{name} +") for t in texts)
    assert texts[0] == "original p=0.00"

    texts.clear()
    frames = 5
    path = visualize.attribute_gif(editor, keyed.key, DARK, [0, 5], tmp_path / "sweep.gif", frames=frames)
    # Frames sweep the key from its minimum to its maximum: p(dark) falls from ~1 to ~0.
    p = [float(t.split("=")[1]) for t in texts if t.startswith("p(dark)=")]
    assert len(p) == 2 * frames and p[0] > 0.99 and p[-1] < 0.01
    assert p[::2] == sorted(p[::2], reverse=True)
    sweep = visualize.sweep_images(editor, keyed.key, [0], frames)[:, 0].mean(dim=[1, 2, 3])
    assert sweep[0] < 0 < sweep[-1] and torch.equal(sweep, sweep.sort().values)
    # The file plays forward (dark first, bright at the turn) and back (identical neighbouring
    # frames may be merged by the writer, so only the order of shades is checked).
    gif = Image.open(path)
    shades = []
    for f in range(gif.n_frames):
        gif.seek(f)
        shades.append(gif.convert("L").getpixel((1, 1)))
    turn = shades.index(max(shades))
    assert shades[0] == shades[-1] == min(shades) < max(shades)
    assert shades[: turn + 1] == sorted(shades[: turn + 1]) and shades[turn:] == sorted(shades[turn:], reverse=True)


class BrightnessOracle:
    """A stand-in factor oracle: `brightness` is read from the image mean, `shape` never changes."""

    def probabilities(self, images):
        m = images.mean(dim=[1, 2, 3])
        return {"brightness": torch.softmax(torch.stack([-40 * m, 40 * m], 1), 1),
                "shape": torch.full((len(images), 2), 0.5)}


def test_layer_directions_find_the_key_layer_and_beat_random_directions(keyed, editor):
    result = evaluate.layer_directions(editor, BrightnessOracle(), seeds=4)
    key_layer = keyed.G.layers[-2].name
    by_name = {e["layer"]: e for e in result["layers"]}
    assert result["top1_layer"] == key_layer and result["top1_dominant_factor"] == "brightness"
    assert by_name[key_layer]["flip_rate"] == 1.0 and by_name[key_layer]["random_flip_rate"] < 0.5
    assert len(by_name) == len(keyed.G.layers)  # toRGB layers included
    assert all(e["flip_rate"] == 0.0 for name, e in by_name.items() if name != key_layer)
    assert result["n_pairs"] == 6 and by_name[key_layer]["factor_change"]["shape"] == 0.0


def test_layer_directions_as_attributes_combined_and_recovered(keyed, editor):
    # The layers are the extension's attributes: the key layer ranks first by flip rate and push
    # (the rise of the target's logit over the source's); the others move nothing.
    result = evaluate.layer_directions(editor, BrightnessOracle(), seeds=4, top_k=3,
                                       factors_used={"label": "brightness"})
    layers = result["layers"]
    assert layers[0]["layer"] == keyed.G.layers[-2].name and layers[0]["push"] > 1.0
    assert all(e["push"] == 0.0 and e["dominant_factor"] is None for e in layers[1:])
    # The top k layers together: the key layer flips every pair at every k; random directions of
    # the same lengths in the same layers do not.
    assert [c["k"] for c in result["combined"]] == [1, 2, 3] and result["top_k"] == 3
    assert all(c["flip_rate"] == 1.0 and c["random_flip_rate"] < 0.5 for c in result["combined"])
    # Recovery counts only layers that change the factor: 1/1, then 1/2 and 1/3 (a layer that changes
    # nothing has no dominant factor).
    assert [c["recovery"] for c in result["recovery_label"]["at_k"]] == pytest.approx([1.0, 1 / 2, 1 / 3])


def test_the_layer_direction_figure_shows_the_key_layer_turning_dark_images_bright(keyed, editor):
    layer = keyed.G.layers[-2].name
    picture = visualize.layer_direction_figure(editor, layer, n=2)
    assert picture.width > 2 * 2 * editor.records.images.shape[-1] and picture.height > 0
    # The first row's moves toward "dark" use the same edit the evaluation measures: every bright
    # image turns dark (its probability of dark rises above 0.5).
    cols, step = evaluate.layer_step(editor, len(keyed.G.layers) - 2, BRIGHT, DARK, editor.records.predicted)
    moved = editor.styles[editor.records.predicted == BRIGHT].clone()
    moved[:, cols] += step
    assert (visualize.probabilities(editor, editor.render(moved), DARK) > 0.5).all()
