"""A child process with a log file, stopped with its whole process group.

Each process runs in its own session, so stopping it (``killpg``) stops its
children too.  Two lifetimes:

- owned (the default, what tests use): on Linux the kernel kills it when its
  parent dies (``PR_SET_PDEATHSIG``), and it is stopped when the parent exits
  normally, so no binary outlives a crashed or killed test run;
- ``detached=True`` (``botwatch stack up``): it outlives the command that
  started it; :mod:`botwatch.stack.pidfiles` finds and stops it later.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

_owned: set[ManagedProcess] = set()


try:  # loaded before any fork: the child only makes one system call
    _libc: ctypes.CDLL | None = ctypes.CDLL("libc.so.6", use_errno=True) if sys.platform == "linux" else None
except OSError:
    _libc = None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class ProcessFailed(RuntimeError):
    pass


class ManagedProcess:
    def __init__(
        self,
        name: str,
        argv: Sequence[str | Path],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        detached: bool = False,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.detached = detached
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        if self.running:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        owned = not self.detached
        with self.log_path.open("ab") as log:
            log.write(f"\n=== {time.strftime('%H:%M:%S')} start: {' '.join(self.argv)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent if owned and _libc is not None else None,
            )
        if owned:
            _owned.add(self)

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str = "ready") -> None:
        """Poll ``ready`` until true; fail early with the log if the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise ProcessFailed(f"{self.name} exited (code {self.returncode}) before {what}:\n{self.log_tail()}")
            if ready():
                return
            time.sleep(0.1)
        raise ProcessFailed(f"{self.name} not {what} after {timeout:.0f}s:\n{self.log_tail()}")

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc else None

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM the process group, SIGKILL after ``timeout``; return the exit code."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                proc.wait(5)
        self._signal(signal.SIGKILL)  # children left in the group after the leader exited
        _owned.discard(self)
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to flush anything."""
        if self._proc is not None and self._proc.poll() is None:
            self._signal(signal.SIGKILL)
            self._proc.wait(5)
        _owned.discard(self)

    def _signal(self, sig: int) -> None:
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """True when GET ``url`` answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status: int = response.status
            return 200 <= status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


@atexit.register
def _stop_owned() -> None:
    for process in list(_owned):
        with contextlib.suppress(Exception):
            process.stop(timeout=5)


class LocalService:
    """A backend on 127.0.0.1:``port`` that says it is ready at an HTTP path."""

    ready_path = "/-/ready"
    start_timeout = 30.0
    port: int
    process: ManagedProcess

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        return http_ok(f"{self.url}{self.ready_path}")

    def start(self, timeout: float | None = None) -> None:
        self.process.start()
        self.process.wait_until(self.ready, timeout or self.start_timeout, what="ready")

    def stop(self) -> int | None:
        return self.process.stop()
