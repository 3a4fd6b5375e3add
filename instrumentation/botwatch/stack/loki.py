"""Loki (built by scripts/build-loki.sh) with the repo's deploy/loki.yaml.

The file is used as written (``-config.expand-env=true``, as compose runs it);
flags, which Loki applies over the file, move what a native run must move:
listen addresses and ports, and every path, into the stack directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from botwatch.stack.binaries import REPO
from botwatch.stack.processes import LocalService, ManagedProcess

CONFIG = REPO / "deploy" / "loki.yaml"


class Loki(LocalService):
    ready_path = "/ready"
    start_timeout = 60.0

    def __init__(
        self,
        binary: Path,
        workdir: Path,
        port: int,
        grpc_port: int,
        memberlist_port: int,
        config: Path = CONFIG,
        extra_args: Sequence[str] = (),
        detached: bool = False,
    ) -> None:
        self.port = port
        data = workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(
            "loki",
            [
                binary,
                f"-config.file={config}",
                "-config.expand-env=true",
                "-server.http-listen-address=127.0.0.1",
                f"-server.http-listen-port={port}",
                "-server.grpc-listen-address=127.0.0.1",
                f"-server.grpc-listen-port={grpc_port}",
                "-memberlist.bind-addr=127.0.0.1",
                f"-memberlist.bind-port={memberlist_port}",
                f"-common.path-prefix={data}",
                f"-common.storage.filesystem.chunk-directory={data / 'chunks'}",
                f"-common.storage.filesystem.rules-directory={data / 'rules'}",
                f"-compactor.working-directory={data / 'compactor'}",
                f"-ingester.wal-dir={data / 'wal'}",
                f"-ruler.storage.local.directory={data / 'rules'}",
                "-log.level=warn",
                *extra_args,
            ],
            log_path=workdir / "loki.log",
            cwd=workdir,  # anything still relative lands here
            detached=detached,
        )
