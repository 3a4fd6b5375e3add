"""The journal receiver (``botwatch.journal.receiver``) as a stack process: where traces and logs land natively."""

from __future__ import annotations

import sys
from pathlib import Path

from botwatch.stack.processes import LocalService, ManagedProcess


class JournalReceiverProcess(LocalService):
    ready_path = "/health"
    start_timeout = 30.0

    def __init__(
        self, workdir: Path, port: int, journal: Path, detached: bool = False, tenants: Path | None = None
    ) -> None:
        self.port = port
        self.journal = journal
        retention = ["--tenants", str(tenants)] if tenants is not None else []  # each tenant's own retention
        self.process = ManagedProcess(
            "journal",
            [
                sys.executable,
                "-m",
                "botwatch.journal.receiver",
                "--port",
                str(port),
                "--journal",
                str(journal),
                *retention,
            ],
            log_path=workdir / "journal.log",
            cwd=workdir,
            detached=detached,
        )
