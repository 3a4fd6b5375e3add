"""Secrets in URLs, headers and log lines: the secret part of each, whoever wrote the line.

* Bitrix24 incoming webhooks ``/rest/<user>/<token>/``: the token;
* Telegram bot tokens ``<bot id>:<token>``, alone or in ``/bot<id>:<token>/``: the token;
* ``Authorization: ...``, ``Bearer ...``, ``Basic ...``: the credentials;
* query and form values of ``token=``, ``key=``, ``api_key=``, ``access_token=``,
  ``secret=``, ``password=`` and any name ending so: the value.
"""

from __future__ import annotations

import re

_SECRET = re.compile(
    r"/rest/\d+/(?P<bitrix>[0-9A-Za-z]{6,})(?![0-9A-Za-z])"
    r"|(?<![0-9])[0-9]{5,12}:(?P<telegram>[A-Za-z0-9_\-]{30,})"
    r"|(?i:\b(?:bearer|basic)\s+)(?P<scheme>[A-Za-z0-9._~+/\-]{6,}=*)"
    r"|(?i:\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)(?!(?i:bearer|basic)\b)(?P<header>[^\s\"',;]{6,})"
    r"|(?i:(?<![\w\-])[\w\-]*(?:token|key|secret|passw(?:or)?d|pwd)=)(?P<query>[^&\s#\"',;]+)"
)
# A cheap superset of the patterns above, also of their URL-escaped forms ("%2Frest%2F", "token%3D").
HINT = r"=|/rest/|earer|EARER|asic|ASIC|uthoriz|UTHORIZ|\d:[\w\-]{30}|%2[fF]|%3[aAdD]|&#"
_HINT = re.compile(HINT)


def may_hold_secret(text: str) -> bool:
    """False means ``text`` holds no secret."""
    return _HINT.search(text) is not None


def secrets(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every secret value in ``text``."""
    found = []
    for match in _SECRET.finditer(text):
        group = match.lastgroup
        if group is not None and match.group(group) != "***":
            found.append(match.span(group))
    return found
