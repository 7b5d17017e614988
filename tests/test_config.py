import pytest

from ntkbook import config


def test_pick_follows_environment(monkeypatch):
    monkeypatch.setenv("NTKBOOK_SCALE", "fast")
    assert config.scale() == "fast" and config.is_fast()
    assert config.pick(fast=1, book=2) == 1
    monkeypatch.setenv("NTKBOOK_SCALE", "book")
    assert config.pick(fast=1, book=2) == 2 and not config.is_fast()


def test_default_is_book(monkeypatch):
    monkeypatch.delenv("NTKBOOK_SCALE", raising=False)
    assert config.scale() == "book"
    monkeypatch.setenv("NTKBOOK_SCALE", "  FAST ")
    assert config.scale() == "fast"


def test_unknown_scale_is_an_error(monkeypatch):
    monkeypatch.setenv("NTKBOOK_SCALE", "huge")
    with pytest.raises(ValueError, match="not a scale"):
        config.pick(fast=1, book=2)


def test_pick_needs_both_keywords():
    with pytest.raises(TypeError):
        config.pick(1, 2)  # type: ignore[misc]


def test_lazy_submodules():
    import ntkbook

    assert ntkbook.config is config
    with pytest.raises(AttributeError):
        ntkbook.does_not_exist  # noqa: B018
