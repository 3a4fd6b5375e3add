"""JSON over HTTP for the stack's APIs: every failure becomes one SourceError a person can act on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from botwatch.audit.audit_errors import SourceError

TIMEOUT_S = 15.0


class JsonApi:
    def __init__(
        self, name: str, base_url: str, env: str, headers: Mapping[str, str] | None = None, unauthorized: str = ""
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.env = env
        self.session = requests.Session()
        self.session.headers.update(headers or {})
        self.unauthorized = unauthorized  # what to do about a 401, said after the backend's own words

    def get(self, path: str, params: dict[str, Any] | None = None, *, missing_ok: bool = False) -> Any:
        """The decoded JSON body; None for a 404 when ``missing_ok``."""
        url = f"{self.base_url}{path}"
        try:
            response = self.session.get(url, params=params, timeout=TIMEOUT_S)
        except requests.RequestException as error:
            raise SourceError(
                f"{self.name} at {self.base_url} is not reachable ({type(error).__name__}); "
                f"check that it runs and the URL (--{self.name.lower()}-url / {self.env})"
            ) from error
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code >= 400:
            detail = " ".join(response.text.split())[:200]
            hint = f"; {self.unauthorized}" if response.status_code == 401 and self.unauthorized else ""
            raise SourceError(f"{self.name} answered HTTP {response.status_code} for {path}: {detail}{hint}")
        try:
            return response.json()
        except ValueError as error:
            raise SourceError(f"{self.name} at {self.base_url} answered something that is not JSON ({path})") from error

    def garbage(self, path: str, what: str) -> SourceError:
        return SourceError(f"{self.name} at {self.base_url} answered {path} without {what}: not a {self.name} API?")

    def close(self) -> None:
        self.session.close()
