"""The local Telegram Bot API servers the aiogram and python-telegram-bot tests talk to, one per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from telegram_api import BotAPI
from telegram_support import OTHER_TOKEN, serve


@pytest.fixture(scope="module")
def api() -> Iterator[BotAPI]:
    """The salon's bot (``telegram_api.TOKEN``)."""
    yield from serve()


@pytest.fixture(scope="module")
def other_api() -> Iterator[BotAPI]:
    """A second bot (``OTHER_TOKEN``): the clinic, for one person writing to two bots."""
    yield from serve(OTHER_TOKEN)
