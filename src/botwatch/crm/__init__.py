"""CRM clients whose every call is a ``crm.*`` span of the conversation's trace."""

from __future__ import annotations

from botwatch.crm.bitrix24 import Bitrix24, Bitrix24Error, LeadResult

__all__ = ["Bitrix24", "Bitrix24Error", "LeadResult"]
