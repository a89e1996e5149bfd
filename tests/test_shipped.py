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
