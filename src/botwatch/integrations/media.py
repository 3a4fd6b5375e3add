"""What media a Telegram message carries, as ``botwatch.media.*`` attributes.

Both frameworks mirror the Bot API's field names, so one reader serves
aiogram's and python-telegram-bot's ``Message`` objects (and the plain dicts
the Bot API answers with): the kind, the size in bytes when Telegram reports
it, and the duration of voice, video notes, video and audio.  Outgoing media
are read from the send method's name and parameters, and completed from the
message Telegram answers with.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from botwatch import semconv

# Bot API message fields that are media, in the order they are looked for: an animation
# message also carries ``document``, so the animation comes first.
KINDS = (
    "voice",
    "video_note",
    "photo",
    "video",
    "audio",
    "animation",
    "document",
    "sticker",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
)
_TIMED = frozenset({"voice", "video_note", "video", "audio", "animation"})
# sendVideoNote → video_note; sendMediaGroup is an album.
_BY_METHOD = {"send" + "".join(part.title() for part in kind.split("_")): kind for kind in KINDS}
_BY_METHOD["sendMediaGroup"] = "media_group"


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _number(value: Any) -> int | None:
    if isinstance(value, timedelta):  # python-telegram-bot with PTB_TIMEDELTA=1
        return int(value.total_seconds())
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _duration(value: Any) -> int | None:
    # python-telegram-bot 22 warns on reading ``duration`` (it will become a timedelta); the bot
    # did not read it, so botwatch must not make that warning appear in its logs.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return _number(_field(value, "duration"))


def of_message(message: Any) -> dict[str, Any]:
    """The media attributes of a received (or answered) message; empty for plain text."""
    if message is None or _field(message, "text") is not None:  # a text message carries no media
        return {}
    for kind in KINDS:
        value = _field(message, kind)
        if value is None:
            continue
        if kind == "photo" and isinstance(value, list | tuple):
            if not value:
                continue
            value = value[-1]  # the largest size Telegram made
        attributes: dict[str, Any] = {semconv.MEDIA_KIND: kind}
        size = _number(_field(value, "file_size"))
        if size is not None:
            attributes[semconv.MEDIA_SIZE] = size
        duration = _duration(value) if kind in _TIMED else None
        if duration is not None:
            attributes[semconv.MEDIA_DURATION] = duration
        return attributes
    return {}


def _upload_size(value: Any) -> int | None:
    """Bytes of an upload: aiogram's BufferedInputFile/FSInputFile, PTB's InputFile, raw bytes."""
    if isinstance(value, bytes | bytearray):
        return len(value)
    for attribute in ("data", "input_file_content"):  # aiogram BufferedInputFile, PTB InputFile
        content = getattr(value, attribute, None)
        if isinstance(content, bytes | bytearray):
            return len(content)
    path = getattr(value, "path", None)  # aiogram FSInputFile
    if isinstance(path, str | os.PathLike):
        try:
            return os.path.getsize(path)
        except OSError:
            return None
    return None


def of_send(method: str, param: Callable[[str], Any], answer: Any = None) -> dict[str, Any]:
    """The media attributes of an outgoing ``send*`` call; ``answer`` is the message Telegram returned."""
    kind = _BY_METHOD.get(method)
    if kind is None:
        return {}
    attributes: dict[str, Any] = {semconv.MEDIA_KIND: kind}
    size = _upload_size(param(kind)) if kind != "media_group" else None
    if size is not None:
        attributes[semconv.MEDIA_SIZE] = size
    duration = _number(param("duration")) if kind in _TIMED else None
    if duration is not None:
        attributes[semconv.MEDIA_DURATION] = duration
    answered = of_message(answer)
    if answered.get(semconv.MEDIA_KIND) == kind:
        attributes.update(answered)  # what Telegram stored wins over what was uploaded
    return attributes
