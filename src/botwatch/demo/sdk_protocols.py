"""The slice of the botwatch SDK the simulator drives, as typing protocols.

The executor is written against these, so it can be tested with a recording
fake and type-checked without importing the real SDK; ``real_sdk()`` binds
``botwatch.conversation`` at run time.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol, cast


class LlmSpan(Protocol):
    response_model: str | None

    def response(
        self, *, model: str | None = None, id: str | None = None, finish_reasons: list[str] | tuple[str, ...] = ()
    ) -> None: ...

    def usage(self, input_tokens: int, output_tokens: int, *, cost: float | None = None) -> None: ...

    def fail(self, error_type: str) -> None: ...


class CrmSpan(Protocol):
    entity_id: str | None

    def fail(self, error_type: str) -> None: ...


class TurnSpan(Protocol):
    def intent(self, name: str, confidence: float) -> None: ...

    def llm(
        self,
        model: str,
        *,
        provider: str = "openai",
        server_address: str | None = None,
        server_port: int | None = None,
    ) -> AbstractContextManager[LlmSpan]: ...

    def crm(
        self,
        action: str,
        *,
        system: str = "bitrix24",
        server_address: str | None = None,
        server_port: int | None = None,
    ) -> AbstractContextManager[CrmSpan]: ...

    def reply(self, text: str) -> None: ...

    def funnel(self, stage: str) -> None: ...


class ConversationSpan(Protocol):
    def turn(self, text: str | None, *, index: int | None = None) -> AbstractContextManager[TurnSpan]: ...

    def send(self, text: str, *, kind: str = "reminder") -> AbstractContextManager[object]: ...

    def funnel(self, stage: str) -> None: ...


class OpenConversation(Protocol):
    def __call__(
        self,
        conversation_id: str,
        *,
        channel: str,
        client_phone: str | None = None,
        client_email: str | None = None,
        scenario_variant: str | None = None,
        session_id: str | None = None,
        resume: bool = False,
        clock: Callable[[], int] | None = None,
    ) -> AbstractContextManager[ConversationSpan]: ...


def real_sdk() -> OpenConversation:
    """``botwatch.conversation``, looked up when the demo runs."""
    return cast(OpenConversation, importlib.import_module("botwatch").conversation)


def real_flush() -> None:
    """``botwatch.flush()``: drains the SDK's export queues so a fast batch run drops nothing."""
    importlib.import_module("botwatch").flush()


class VirtualClock:
    """The time the SDK reads, in Unix ns; the executor moves it forward, never back."""

    def __init__(self, now_ns: int = 0) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns

    def set(self, now_ns: int) -> None:
        if now_ns < self.now_ns:
            raise ValueError(f"virtual clock moved back from {self.now_ns} to {now_ns}")
        self.now_ns = now_ns
