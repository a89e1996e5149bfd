"""The shipped models are found by an explicit path, by $STYLEX_MODELS or in the source checkout,
and a missing one is a StylexError that names every place looked at."""

import pytest

from stylex import shipped
from stylex.errors import StylexError


def _model(folder):
    (folder / "attfind").mkdir(parents=True)
    (folder / "attfind" / "records.h5").write_bytes(b"")
    return folder


def test_explicit_path_is_the_model_or_holds_it(tmp_path):
    model = _model(tmp_path / "models" / "world-smile")
    assert shipped.find_shipped(path=model) == model
    assert shipped.find_shipped(path=tmp_path / "models") == model


def test_environment_variable_comes_before_the_checkout(tmp_path, monkeypatch):
    model = _model(tmp_path / "copy" / "world-smile")
    monkeypatch.setenv(shipped.ENV_VAR, str(tmp_path / "copy"))
    assert shipped.find_shipped() == model
    assert shipped.shipped_dir() == model


def test_missing_model_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv(shipped.ENV_VAR, str(tmp_path / "nowhere"))
    monkeypatch.setattr(shipped, "CHECKOUT_MODELS", tmp_path / "no-checkout")
    with pytest.raises(StylexError, match="STYLEX_MODELS") as info:
        shipped.find_shipped()
    assert str(tmp_path / "nowhere") in str(info.value) and "no-checkout" in str(info.value)
    assert shipped.shipped_dir() == tmp_path / "no-checkout" / "world-smile"
    with pytest.raises(StylexError, match="the given path"):  # an explicit path never falls back
        shipped.find_shipped(path=tmp_path / "wrong")


def test_the_shipped_shortcut_model_is_explained_by_the_background():
    """models/world-shortcut (models/README.md), recomputed from its records: AttFind's top-3 single
    coordinates are read by the factor oracle as the background and the top 10 flip at least 90 % of
    the decisions; the layer directions find the background too, in the last toRGB layer."""
    import json

    from stylex.attfind import load_context
    from stylex.evaluate import ground_truth, layer_directions, sufficiency
    from stylex.oracle import load_oracle

    folder = shipped.find_shipped("world-shortcut")
    ctx = load_context(folder / "attfind" / "records.h5", "cpu")
    editor, oracle = ctx.editor(), load_oracle()
    assert sufficiency(editor, ctx.selection, 10)["flip_rate"] >= 0.9
    top3 = ground_truth(editor, ctx.selection, oracle, top_k=3)["attributes"]
    assert [a["dominant_factor"] for a in top3] == ["background"] * 3
    result = layer_directions(editor, oracle, seeds=1)
    saved = json.loads((folder / "attfind" / "layer_directions.json").read_text())
    assert result["top1_layer"] == saved["top1_layer"] == "b32.torgb"
    assert result["top1_dominant_factor"] == "background" and result["layers"][0]["flip_rate"] >= 0.9


def test_the_shipped_smile_model_is_explained_by_a_visible_smile():
    """models/world-smile (models/README.md), recomputed from its records: the top-10 attributes flip
    at least 90 % of the decisions, the top one is the smile as the factor oracle reads it, and its
    edit changes the oracle's smile reading on at least half of the faces it moves."""
    from stylex.attfind import load_context
    from stylex.evaluate import ground_truth, sufficiency
    from stylex.oracle import load_oracle

    ctx = load_context(shipped.find_shipped("world-smile") / "attfind" / "records.h5", "cpu")
    editor = ctx.editor()
    assert sufficiency(editor, ctx.selection, 10)["flip_rate"] >= 0.9
    first = ground_truth(editor, ctx.selection, load_oracle(), top_k=1)["attributes"][0]
    assert first["dominant_factor"] == "smile" and first["reading_changed_on_moved"]["smile"] >= 0.5


def test_the_shipped_pair_is_classifier_specific():
    """world-smile against world-shortcut (models/README.md): each model's top-10 AttFind attributes,
    and its strongest layer direction, flip its own classifier's decisions more often than any flip
    the other's."""
    from stylex.attfind import load_context
    from stylex.demo import diagonal_is_larger
    from stylex.evaluate import specificity

    contexts = {name: load_context(shipped.find_shipped(name) / "attfind" / "records.h5", "cpu")
                for name in ("world-smile", "world-shortcut")}
    result = specificity({name: (c.G, c.classifier, c.records, c.selection, "cpu") for name, c in contexts.items()}, 10)
    assert result["top_layers"] == {"world-smile": "b16.conv1", "world-shortcut": "b32.torgb"}
    assert diagonal_is_larger(result["matrix"]) and diagonal_is_larger(result["layer_matrix"])
    smile_on_shortcut = (result[key]["world-smile"]["world-shortcut"] for key in ("matrix", "layer_matrix"))
    assert list(smile_on_shortcut) == [0.0, 0.0]
