"""Bot API update JSON as Telegram sends it, for the integration tests: messages, edits, media, callbacks."""

from __future__ import annotations

import time
from typing import Any

VOICE_SIZE, VOICE_SECONDS = 12_345, 7


def _person(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "Client"}


def _message(message_id: int, chat_id: int, **fields: Any) -> dict[str, Any]:
    chat = (
        {"id": chat_id, "type": "private", "first_name": "Client"}
        if chat_id > 0
        else {"id": chat_id, "type": "supergroup", "title": "Salon owner"}
    )
    user = chat_id if chat_id > 0 else 77
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": chat,
        "from": _person(user),
        **fields,
    }
    text = fields.get("text", "")
    if isinstance(text, str) and text.startswith("/"):
        command = text.split()[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return message


def text(update_id: int, chat_id: int, body: str) -> dict[str, Any]:
    return {"update_id": update_id, "message": _message(update_id, chat_id, text=body)}


def edited(update_id: int, chat_id: int, message_id: int, body: str) -> dict[str, Any]:
    message = _message(message_id, chat_id, text=body, edit_date=int(time.time()))
    return {"update_id": update_id, "edited_message": message}


def voice(update_id: int, chat_id: int, caption: str | None = None) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "voice": {
            "file_id": f"AwACAgIAAxk{update_id:06d}",
            "file_unique_id": f"AgAD{update_id:04d}",
            "duration": VOICE_SECONDS,
            "mime_type": "audio/ogg",
            "file_size": VOICE_SIZE,
        }
    }
    if caption is not None:
        fields["caption"] = caption
    return {"update_id": update_id, "message": _message(update_id, chat_id, **fields)}


def photo(update_id: int, chat_id: int) -> dict[str, Any]:
    sizes = [
        {"file_id": f"p{update_id}{side}", "file_unique_id": f"{side}{update_id}", "width": side, "height": side}
        | {"file_size": size}
        for side, size in ((90, 1_200), (800, 64_000))
    ]
    return {"update_id": update_id, "message": _message(update_id, chat_id, photo=sizes)}


def callback(update_id: int, chat_id: int, data: str, bot_id: int) -> dict[str, Any]:
    shown = _message(update_id, chat_id, text="Выберите время")
    shown["from"] = {"id": bot_id, "is_bot": True, "first_name": "Salon"}
    query = {"id": str(update_id), "from": _person(chat_id), "chat_instance": "1", "data": data, "message": shown}
    return {"update_id": update_id, "callback_query": query}


def inline(update_id: int, user_id: int, query: str) -> dict[str, Any]:
    inline_query = {"id": str(update_id), "from": _person(user_id), "query": query, "offset": ""}
    return {"update_id": update_id, "inline_query": inline_query}


def member(update_id: int, user_id: int, bot_id: int, status: str) -> dict[str, Any]:
    """The client blocked (``kicked``) or unblocked (``member``) the bot: ``my_chat_member``."""
    bot = {"id": bot_id, "is_bot": True, "first_name": "Salon"}
    changed = {
        "chat": {"id": user_id, "type": "private", "first_name": "Client"},
        "from": _person(user_id),
        "date": int(time.time()),
        "old_chat_member": {"status": "member", "user": bot},
        "new_chat_member": {"status": status, "user": bot, **({"until_date": 0} if status == "kicked" else {})},
    }
    return {"update_id": update_id, "my_chat_member": changed}


def pre_checkout(update_id: int, user_id: int) -> dict[str, Any]:
    query = {
        "id": str(update_id),
        "from": _person(user_id),
        "currency": "RUB",
        "total_amount": 150_000,
        "invoice_payload": "booking-42",
    }
    return {"update_id": update_id, "pre_checkout_query": query}
