"""The deployment key never shows in a repr: a logged Settings or Redactor would hand out every client hash."""

from __future__ import annotations

from botwatch.pii import Redactor
from botwatch.settings import Settings

KEY = "k" * 40


def test_settings_repr_leaves_out_the_secret() -> None:
    settings = Settings.resolve(secret=KEY, env={})
    assert settings.secret == KEY.encode()
    assert KEY not in repr(settings)
    assert "secret=" not in repr(settings)


def test_redactor_repr_leaves_out_the_secret() -> None:
    redactor = Redactor(KEY.encode())
    assert KEY not in repr(redactor)
    assert redactor.client_id(phone="+79161234567") != Redactor(b"x" * 40).client_id(phone="+79161234567")
