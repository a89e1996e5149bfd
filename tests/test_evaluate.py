"""Evaluation on a hand-computable stand-in: a "generator" that shows style vectors as 1x1 images
and a linear classifier, so every flip, baseline pick and factor change can be worked out by hand."""

from pathlib import Path

import numpy as np
import pytest
import torch

from stylex import evaluate
from stylex.attfind.editor import Editor
from stylex.attfind.records import Records
from stylex.attfind.selection import SelectionOptions, select_from_records
from stylex.maths import from_uint8, to_uint8
from stylex.stylespace import StyleLayer

# Two analysed coordinates (one conv layer) and one toRGB style that is carried along.
LAYERS = (StyleLayer("b4.conv1", "conv", 4, 2), StyleLayer("b4.torgb", "torgb", 4, 1))
STYLES = np.array([[-1.0, -1.0, 0.0], [-0.5, 0.2, 0.0], [1.0, 0.6, 0.0], [0.8, -0.2, 0.0]], dtype=np.float32)


class PixelG:
    """Renders a style vector as a 1x1 image whose channels are the style values."""

    def synthesis(self, styles, noise_mode="const"):
        return torch.cat(styles, dim=1)[:, :, None, None]


def linear_classifier(sign=1.0):
    """Logits [-f/2, f/2] with f = s0 + 2 s1 read from the pixel (sign=-1: the opposite classifier)."""
    def classify(images):
        f = sign * (images[:, 0, 0, 0] + 2 * images[:, 1, 0, 0])
        return torch.stack([-f / 2, f / 2], dim=1)
    return classify


def make_records(classify) -> Records:
    styles = torch.from_numpy(STYLES)
    lo, hi = STYLES[:, :2].min(0), STYLES[:, :2].max(0)
    base = classify(styles[:, :, None, None])
    effect = np.zeros((4, 2, 2, 2), dtype=np.float32)
    for d, target in enumerate((lo, hi)):
        for k in range(2):
            edited = styles.clone()
            edited[:, k] = float(target[k])
            effect[:, d, k] = (classify(edited[:, :, None, None]) - base).numpy()
    n = len(STYLES)
    return Records(
        path=Path("in-memory.h5"), meta={}, conditioning="probs", shift=1.0, include_torgb=False,
        class_names=["neg", "pos"], layers=LAYERS, shard=(0, 1), image_index=np.arange(n), labels=np.zeros(n, int),
        images=to_uint8(styles[:, :, None, None]).numpy(), latents=np.zeros((n, 1)), conditions=np.zeros((n, 2)),
        real_logits=base.numpy(), base_logits=base.numpy(), styles=STYLES, style_min=lo, style_max=hi,
        effect=effect, done=np.ones(n, bool),
    )


@pytest.fixture
def setup():
    records = make_records(linear_classifier())
    selection = select_from_records(records, SelectionOptions(top_k=2))
    return Editor(PixelG(), linear_classifier(), records), selection


def test_selection_of_the_stand_in(setup):
    _, selection = setup
    # Worked out by hand: coordinate 1 (score 1.6) before coordinate 0 (score 1.0), both "to min" toward neg.
    assert [(a.coordinate, a.direction) for a in selection.attributes] == [(1, 0), (0, 0)]
    assert [round(a.score, 4) for a in selection.attributes] == [1.6, 1.0]


def test_sufficiency_and_baselines_by_hand(setup):
    editor, selection = setup
    # Base decisions: f = -3, -0.1, 2.2, 0.4 -> neg, neg, pos, pos.
    np.testing.assert_array_equal(evaluate.base_predictions(editor), [0, 0, 1, 1])
    # k=1 moves s1 to 0.6 (toward pos) or -1 (toward neg): f = 0.2, 0.7 | -1.0, -1.2: all four flip.
    result = evaluate.sufficiency(editor, selection, top_k=2)
    assert result["flip_rate"] == 1.0 and [c["flip_rate"] for c in result["curve"]] == [1.0, 1.0]
    assert result["n_images"] == 4 and result["n_pairs"] == 4
    # Wu et al.: coordinate 0 separates the classes more (1.65 / 0.85 vs 0.6 / 0.59), so it comes
    # first; moving s0 alone flips only images 1 and 3 (f = 1.4 and -1.4; 0 stays at -1, 2 at 0.2).
    wu = evaluate.wu_baseline(editor, top_k=2)
    assert [c["flip_rate"] for c in wu["curve"]] == [0.5, 1.0]
    both = evaluate.baselines(editor, selection, top_k=2, seeds=3)
    assert both["attfind"]["flip_rate"] == 1.0 and both["wu"]["curve"][0]["flip_rate"] == 0.5
    # Random: with both coordinates drawn, k=2 always flips everything (directions from the records).
    assert both["random"]["curve"][1]["flip_rate"] == 1.0 and both["random"]["seeds"] == 3


def test_specificity_matrix(setup):
    editor, selection = setup
    records_b = make_records(linear_classifier(-1.0))
    selection_b = select_from_records(records_b, SelectionOptions(top_k=2))
    runs = {"A": (PixelG(), linear_classifier(), editor.records, selection, "cpu"),
            "B": (PixelG(), linear_classifier(-1.0), records_b, selection_b, "cpu")}
    result = evaluate.specificity(runs, top_k=2)
    # Each run's attributes flip its own classifier; applied to the opposite classifier they push
    # every image further into its class.
    assert result["matrix"] == {"A": {"A": 1.0, "B": 0.0}, "B": {"A": 0.0, "B": 1.0}}
    # The layer-direction extension's top attribute: A's class means on b4.conv1 differ by
    # (1.65, 0.6) (the toRGB style is 0 everywhere, so its direction is 0). Adding it to A's class-neg
    # images and subtracting it from class-pos ones gives f = -0.15, 2.75 | -0.65, -2.45: three of
    # four flip. Judged by B (decisions pos, pos, neg, neg), A's direction pushes every image further
    # into B's class; B is A mirrored.
    assert result["top_layers"] == {"A": "b4.conv1", "B": "b4.conv1"}
    assert result["layer_matrix"] == {"A": {"A": 0.75, "B": 0.0}, "B": {"A": 0.0, "B": 0.75}}


def test_layer_transfer_takes_its_directions_from_the_given_classes(setup):
    editor, _ = setup
    conv = editor.full_space.included[0]
    own = evaluate.base_predictions(editor)
    assert evaluate.layer_transfer(editor, [conv], own) == 0.75
    # Directions from the opposite decisions point the other way: f = -5.85, -2.95 | 5.05, 3.25, none flips.
    assert evaluate.layer_transfer(editor, [conv], 1 - own) == 0.0
    # With strength 2 image 0 flips too (s = (2.3, 0.2), f = 2.7): all four.
    assert evaluate.layer_transfer(editor, [conv], own, strength=2.0) == 1.0


class SignOracle:
    """Factor `a` is the sign of channel 0, factor `b` the sign of channel 1 (one-hot probabilities)."""

    def probabilities(self, images):
        return {name: torch.nn.functional.one_hot((images[:, c, 0, 0] > 0).long(), 2).float()
                for name, c in (("a", 0), ("b", 1))}


def test_ground_truth_by_hand(setup):
    editor, selection = setup
    result = evaluate.ground_truth(editor, selection, SignOracle(), top_k=2, factors_used={"label": "a", "other": "b"})
    first, second = result["attributes"]
    # Attribute 1 (s1): s1 -> -1 on images 2, 3 and -> 0.6 on images 0, 1: the sign of s1 changes on
    # images 2 and 0 only. Attribute 2 (s0): the sign of s0 changes on all four.
    assert first["factor_change"] == {"a": 0.0, "b": 0.5} and first["dominant_factor"] == "b"
    assert second["factor_change"] == {"a": 1.0, "b": 0.0} and second["dominant_factor"] == "a"
    assert result["top1_dominant_factor"] == "b" and first["n_images"] == 4
    # Both edits move every image's decision logit by 0.8 or more (f changes by 0.8 to 3.2), so all
    # four are "moved"; the oracle's reading changes as counted above.
    assert first["n_moved"] == 4 and first["reading_changed_on_moved"] == {"a": 0.0, "b": 0.5}
    assert second["n_moved"] == 4 and second["reading_changed_on_moved"] == {"a": 1.0, "b": 0.0}
    strict = evaluate.ground_truth(editor, selection, SignOracle(), top_k=1, moved_logit=100.0)
    assert strict["attributes"][0]["n_moved"] == 0 and strict["attributes"][0]["reading_changed_on_moved"]["b"] == 0
    assert [c["recovery"] for c in result["recovery_label"]["at_k"]] == [0.0, 0.5]
    assert [c["recovery"] for c in result["recovery_other"]["at_k"]] == [1.0, 0.5]


def test_reconstruction_metrics(setup):
    editor, selection = setup
    result = evaluate.reconstruction(editor, selection, top_k=2)
    real = from_uint8(editor.records.images)
    assert result["agreement"] == 1.0 and result["n_images"] == 4
    assert result["l1"] == pytest.approx(float((real - torch.from_numpy(STYLES)[:, :, None, None]).abs().mean()))
    assert result["kl"] == pytest.approx(0.0, abs=1e-3)
    name = "fid" if "fid" in result else "fd_classifier"
    assert [c["k"] for c in result["counterfactual_curve"]] == [0, 1, 2]
    assert result["counterfactual_curve"][0][name] == result[name]


class ConditionedPixelG(PixelG):
    """PixelG whose style vector is w + (c[1] - c[0]) * SHIFT: the condition moves every style."""

    SHIFT = torch.tensor([0.3, 0.5, 0.4])

    def styles(self, w, c):
        s = w + (c[:, 1:2] - c[:, 0:1]) * self.SHIFT
        return [s[:, :2], s[:, 2:]]


def test_condition_by_hand():
    # A classifier that also reads the toRGB style: f = s0 + 2 s1 + 2 s2.
    def classify(images):
        f = images[:, 0, 0, 0] + 2 * images[:, 1, 0, 0] + 2 * images[:, 2, 0, 0]
        return torch.stack([-f / 2, f / 2], dim=1)

    records = make_records(classify)
    predicted = records.predicted  # f = -3, -0.1, 2.2, 0.4: neg, neg, pos, pos
    assert predicted.tolist() == [0, 0, 1, 1]
    records.conditions = np.eye(2)[predicted]
    records.latents = STYLES - np.where(predicted == 1, 1.0, -1.0)[:, None] * ConditionedPixelG.SHIFT.numpy()
    editor = Editor(ConditionedPixelG(), classify, records)
    assert torch.allclose(editor.with_condition([0, 1], records.conditions[0]), torch.from_numpy(STYLES[:2]))

    result = evaluate.condition(editor, ks=(1, 5))
    # Swapping c adds +-(0.6, 1.0, 0.8): every image flips when all three styles move.
    assert result["flip_rate_all_styles"] == 1.0 and result["n_pairs"] == 4 and result["coordinates"] == 2
    # The swap moves s1 most relative to its range (1.0 / 1.6 against 0.6 / 2): with s1 alone images
    # 1 and 3 flip (f = 1.9, -1.6) but 0 and 2 do not (f = -1, 0.2); with s0 and s1 (all analysed
    # coordinates, k = 5 is capped at 2) image 0 still stays (f = -0.4).
    assert [(c["k"], c["flips"]) for c in result["curve"]] == [(1, 2), (2, 3)]
