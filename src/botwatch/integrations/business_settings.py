"""The business's settings the Telegram integrations read: its time zone and its non-client chats.

``BOTWATCH_TIMEZONE`` (an IANA name, default ``Europe/Moscow``) sets where
an episode's day begins: a conversation at 01:30 Moscow time belongs to that
Moscow day, not to the UTC day before.  ``BOTWATCH_NON_CLIENT_CHATS`` (chat
ids, comma-separated) names chats that are not clients — the owner's admin
group, a notification channel — whose turns and sends are recorded but marked
``botwatch.chat.non_client`` and left out of client KPIs.  Both can be given
to ``instrument()`` instead; a bad value is a ``ValueError`` naming it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botwatch import env

TIMEZONE_ENV = env.TIMEZONE.name
NON_CLIENT_ENV = env.NON_CLIENT_CHATS.name
DEFAULT_TIMEZONE = "Europe/Moscow"


def business_timezone(value: str | tzinfo | None = None) -> tzinfo:
    """``value``, else ``$BOTWATCH_TIMEZONE``, else Europe/Moscow, as a tzinfo."""
    if isinstance(value, tzinfo):
        return value
    source = "timezone" if value is not None else TIMEZONE_ENV
    name = value if value is not None else (env.TIMEZONE.text() or DEFAULT_TIMEZONE)
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError) as error:
        if value is None:  # from the environment: the one configuration error (botwatch.env)
            raise env.TIMEZONE.bad(name, "an IANA time zone such as 'Europe/Moscow' or 'Asia/Yekaterinburg'") from error
        raise ValueError(
            f"{source}={name!r} is not a time zone; use an IANA name such as 'Europe/Moscow' or 'Asia/Yekaterinburg'"
        ) from error


def non_client_chats(value: Iterable[int | str] | None = None) -> frozenset[str]:
    """Chat ids (as strings) that are not clients: ``value``, else ``$BOTWATCH_NON_CLIENT_CHATS``."""
    source = "non_client_chats" if value is not None else NON_CLIENT_ENV
    items = list(value) if value is not None else (env.NON_CLIENT_CHATS.text() or "").split(",")
    chats: set[str] = set()
    bad: list[str] = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        if isinstance(item, bool) or not text.lstrip("-").isdigit():
            bad.append(repr(item))
        else:
            chats.add(str(int(text)))
    if bad and value is None:
        raise env.NON_CLIENT_CHATS.bad(env.NON_CLIENT_CHATS.text() or "", "Telegram chat ids such as -1001234567890")
    if bad:
        expected = "expected integers such as -1001234567890"
        raise ValueError(f"{source}: not Telegram chat ids: {', '.join(bad)} ({expected})")
    return frozenset(chats)
