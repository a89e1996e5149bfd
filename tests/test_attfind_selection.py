"""AttFind Steps B-E on a hand-worked example, the multi-class variants, per-image explanations and
the attributes.json round trip."""

import dataclasses

import numpy as np
import pytest

from stylex.attfind.selection import (
    SelectionOptions,
    explain_image,
    greedy_toward,
    load_selection,
    save_selection,
    select_attributes,
    unstable_images,
)
from stylex.errors import StylexError


def hand_example():
    """4 images (0, 1 predicted class 0; 2, 3 class 1), 4 coordinates, 2 classes.
    effect[i, d, k, c]; every entry not set here is 0."""
    e = np.zeros((4, 2, 4, 2))
    # Toward class 0 on images 2 and 3 (class-0 logit).
    e[2, 0, :, 0] = [0.5, 0.7, 0.3, 0.0]
    e[2, 1, :, 0] = [0.0, 0.9, -0.4, 0.0]
    e[3, 0, :, 0] = [0.5, 0.2, 0.3, 0.0]
    e[3, 1, :, 0] = [0.0, 0.2, 0.0, 0.0]
    # Toward class 1 on images 0 and 1 (class-1 logit).
    e[0, 0, :, 1] = [0.0, 0.0, 0.0, 0.25]
    e[0, 1, :, 1] = [0.6, 0.0, 0.1, 0.0]
    e[1, 0, :, 1] = [0.0, 0.3, 0.0, 0.25]
    e[1, 1, :, 1] = [0.4, 0.0, 0.1, 0.0]
    # Entries that only enter the Step E scores.
    e[0, 1, 1, 0] = -0.4
    e[2, 1, 0, 1] = -0.2
    return e, np.array([0, 0, 1, 1])


def test_greedy_search_by_hand():
    e, predicted = hand_example()
    # Toward class 0 (columns d*S + k): means d1k1 .55 > d0k0 .5 -> pick d1k1 (acc .9, .2); then d0k0
    # (acc 1.4, .7): image 2 has reached 5t = 1.0 and stops counting, so among image 3 alone d0k2 (.3)
    # beats d0k1 (.2, though .45 over both images); then image 3 reaches 1.0 too, so both images count
    # again: d0k1 (.45); after that nothing pushes any more and the search ends.
    assert greedy_toward(e[predicted == 1, :, :, 0], top_k=5) == [(1, 1), (0, 0), (2, 0), (1, 0)]
    # Toward class 1: d1k0 .5, then d0k3 .25, d0k1 .15, d1k2 .1; then nothing pushes any more.
    assert greedy_toward(e[predicted == 0, :, :, 1], top_k=9) == [(0, 1), (3, 0), (1, 0), (2, 1)]
    assert greedy_toward(e[predicted == 0, :, :, 1], top_k=2) == [(0, 1), (3, 0)]


def test_binary_combination_by_hand():
    e, predicted = hand_example()
    sel = select_attributes(e, predicted, SelectionOptions(top_k=3), class_names=["young", "old"])
    assert sel.mode == "binary"
    # List 0: (1,1) (0,0) (0,2); list 1: (1,0) (0,3) (0,1). Only coordinate 3 is new: appended as (1,3).
    # Scores mean_i e[i,d,k,0] + mean_i e[i,1-d,k,1]:
    #   (0,0): (.5+.5)/4 + (.6+.4-.2)/4 = .45    (1,1): (-.4+.9+.2)/4 + .3/4 = .25
    #   (0,2): (.3+.3)/4 + (.1+.1)/4 = .2         (1,3): 0 + (.25+.25)/4 = .125
    got = [(a.direction, a.coordinate, round(a.score, 6)) for a in sel.attributes]
    assert got == [(0, 0, 0.45), (1, 1, 0.25), (0, 2, 0.2), (1, 3, 0.125)]
    assert [a.rank for a in sel.attributes] == [1, 2, 3, 4]
    top = sel.attributes[0]
    assert top.toward_class == 0 and top.images_moved == 4  # .5 .5 toward class 0, .6 .4 toward class 1
    np.testing.assert_allclose(top.mean_effect, [0.25, 0.0])
    # Edits toward class 1 use the opposite directions.
    assert sel.edits_toward(1, top_k=2) == [(0, 1), (1, 0)]
    assert sel.edits_toward(0) == [(0, 0), (1, 1), (2, 0), (3, 1)]
    # The per-class lists are ranked by their own mean push.
    assert [(a.direction, a.coordinate) for a in sel.lists[1].attributes] == [(1, 0), (0, 3), (0, 1)]


def test_unstable_images_are_ignored():
    e, predicted = hand_example()
    noisy = np.zeros((1, 2, 4, 2))
    noisy[0, 1, 3, 0] = 3.0  # reacts by 3 logits to five edits: unstable with a count limit of 3
    noisy[0, 0, :, 1] = 3.0
    e5, p5 = np.concatenate([e, noisy]), np.append(predicted, 1)
    assert list(unstable_images(e5, count=3, logit=2.0)) == [False] * 4 + [True]
    options = SelectionOptions(top_k=3, unstable_count=3)
    sel = select_attributes(e5, p5, options)
    assert sel.unstable == [4]
    assert [(a.direction, a.coordinate) for a in sel.lists[0].attributes] == [(1, 1), (0, 0), (0, 2)]
    kept = select_attributes(e5, p5, SelectionOptions(top_k=3, unstable_filter=False))
    assert (kept.lists[0].attributes[0].direction, kept.lists[0].attributes[0].coordinate) == (1, 3)


def test_discriminator_filter_rejects_unrealistic_edits():
    e, predicted = hand_example()
    disc = np.zeros((4, 2, 4))
    disc[:, 1, 1] = 0.5  # the d1k1 edit makes images look fake
    sel = select_attributes(e, predicted, SelectionOptions(top_k=3, discriminator_limit=0.2), disc_effect=disc)
    assert (1, 1) not in [(a.direction, a.coordinate) for a in sel.lists[0].attributes]
    with pytest.raises(StylexError, match="discriminator"):
        select_attributes(e, predicted, SelectionOptions(discriminator_limit=0.2))


def test_discriminator_filter_rejects_on_any_of_the_first_ten_affected_images():
    """The authors' rule: a candidate is rejected if ANY of its first 10 affected images (moved by more
    than t toward the target) changes D by more than the limit; a mean over them would hide one."""
    n, size = 12, 3
    toward = np.zeros((n, 2, size))
    toward[:, 0, 0] = 1.0  # d0k0 moves every image the most...
    toward[:, 0, 1] = 0.5  # ... d0k1 next
    toward[:, 1, 2] = 0.3  # ... then d1k2
    disc = np.zeros((n, 2, size))
    disc[3, 0, 0] = 0.5  # one of d0k0's first 10 affected images looks fake (mean over all: 0.04)
    disc[11, 0, 1] = -0.9  # d0k1 changes D only on its 12th affected image: not checked
    kwargs = dict(top_k=3, flip_factor=100.0)
    assert greedy_toward(toward, **kwargs) == [(0, 0), (1, 0), (2, 1)]
    assert greedy_toward(toward, disc=disc, disc_limit=0.2, **kwargs) == [(1, 0), (2, 1)]
    # Images that the candidate does not move by more than t are not checked.
    toward[3, 0, 0] = 0.1
    assert greedy_toward(toward, disc=disc, disc_limit=0.2, **kwargs) == [(0, 0), (1, 0), (2, 1)]
    # The number of images checked is an option.
    toward[3, 0, 0] = 1.0
    options = SelectionOptions(top_k=3, flip_factor=100.0, discriminator_limit=0.2, discriminator_images=3,
                               unstable_filter=False)
    effect = np.zeros((n, 2, size, 2))
    effect[..., 0] = toward
    sel = select_attributes(effect, np.ones(n, dtype=int), options, disc_effect=disc)
    assert [(a.direction, a.coordinate) for a in sel.lists[0].attributes][:1] == [(0, 0)]
    sel = select_attributes(effect, np.ones(n, dtype=int), dataclasses.replace(options, discriminator_images=10),
                            disc_effect=disc)
    assert (0, 0) not in [(a.direction, a.coordinate) for a in sel.lists[0].attributes]


def test_unstable_filter_is_a_share_of_the_entries_by_default():
    # At S = 50, 2 classes (200 entries per image), an image with 10% large entries is unstable by
    # default; the old absolute count of 750 never filtered it.
    rng = np.random.default_rng(0)
    effect = rng.normal(0, 0.1, size=(3, 2, 50, 2))
    flat = effect.reshape(3, -1)
    flat[0, :20] = 3.0  # 20 of 200 entries: 10%
    flat[1, :4] = -3.0  # 2%: stable under the default share (3.26% = 6.5 entries)
    predicted = np.array([0, 1, 1])
    assert select_attributes(effect, predicted, SelectionOptions(top_k=2)).unstable == [0]
    assert list(unstable_images(effect)) == [True, False, False]
    # The authors' count in their setting (S = 5760 coordinates, 2 classes) is the default share.
    assert SelectionOptions().unstable_share == pytest.approx(750 / (2 * 5760 * 2))
    assert SelectionOptions().unstable_share == pytest.approx(0.0326, abs=1e-4)
    assert list(unstable_images(effect, count=750)) == [False, False, False]
    assert select_attributes(effect, predicted, SelectionOptions(top_k=2, unstable_count=750)).unstable == []
    assert list(unstable_images(effect, share=0.01)) == [True, True, False]


def test_multiclass_variants():
    rng = np.random.default_rng(0)
    e = rng.normal(0, 0.3, size=(9, 2, 5, 3))
    predicted = np.repeat([0, 1, 2], 3)
    ova = select_attributes(e, predicted, SelectionOptions(top_k=2))
    assert ova.mode == "one-vs-all" and [(l.target, l.source) for l in ova.lists] == [(0, None), (1, None), (2, None)]
    # One-vs-all toward class 2 uses only the images of classes 0 and 1.
    first = ova.lists[2].attributes[0]
    push = np.maximum(e[predicted != 2, :, :, 2], 0).mean(axis=0)
    assert (first.direction, first.coordinate) == np.unravel_index(push.argmax(), push.shape)
    ovo = select_attributes(e, predicted, SelectionOptions(top_k=2, mode="one-vs-one"))
    assert len(ovo.lists) == 6
    assert len(ovo.edits_toward(2, source=0)) <= 2
    with pytest.raises(StylexError, match="2-class"):
        select_attributes(e, predicted, SelectionOptions(mode="binary"))


def test_per_image_explanations():
    e, _ = hand_example()
    # Independent: image 2 toward class 0 ranks every edit: d1k1 .9, d0k1 .7, d0k0 .5.
    assert explain_image(e[2], target=0, top_k=3) == [(1, 1, 0.9), (1, 0, 0.7), (0, 0, 0.5)]
    # Subset: only the given (coordinate, direction) candidates.
    assert explain_image(e[2], target=0, top_k=2, candidates=[(2, 0), (0, 0), (3, 1)]) == [(0, 0, 0.5), (2, 0, 0.3)]


def test_attributes_json_round_trip(tmp_path, tiny_generator):
    e, predicted = hand_example()
    space = tiny_generator.stylespace()
    sel = select_attributes(e, predicted, SelectionOptions(top_k=3), class_names=["young", "old"], space=space)
    assert sel.attributes[0].name == space.name(0) and sel.attributes[0].layer == space.locate(0)[0]
    path = save_selection(sel, tmp_path / "attributes.json", records_path="records.h5")
    back = load_selection(path)
    assert back == sel
    import json

    data = json.loads(path.read_text())
    assert data["attributes"][0]["mean_effect"] == {"young": pytest.approx(0.25), "old": 0.0}
    assert data["attributes"][0]["direction_name"] == "to_min"
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(StylexError, match="not a valid"):
        load_selection(tmp_path / "bad.json")
