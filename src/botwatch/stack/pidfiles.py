"""Finding and stopping detached processes again: pid files and process groups.

A pid alone can be reused by an unrelated process after ours exited, so a
record also keeps the process's start time (``/proc/<pid>/stat``, field 22)
and a process only counts as ours while both match.  Every stack process leads
its own process group; stopping it signals the whole group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (field 3 = index 0), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used so far; 0 once it is gone."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else 0.0


def start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def is_alive(pid: int) -> bool:
    """Exists and is not a zombie waiting to be reaped."""
    fields = _stat_fields(pid)
    if fields is None:
        if not Path("/proc").is_dir():  # not Linux: ask the kernel
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return True
        return False
    return fields[0] not in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    """Live processes whose process group is ``pgid`` (Linux: read from /proc)."""
    members = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return members


@dataclass(frozen=True)
class PidRecord:
    name: str
    pid: int
    ticks: int | None

    @classmethod
    def of(cls, name: str, pid: int) -> PidRecord:
        return cls(name, pid, start_ticks(pid))

    def is_ours(self) -> bool:
        return is_alive(self.pid) and (self.ticks is None or start_ticks(self.pid) == self.ticks)

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.name}.pid"
        path.write_text(f"{self.pid} {self.ticks if self.ticks is not None else ''}\n")
        return path

    @classmethod
    def read(cls, path: Path) -> PidRecord | None:
        try:
            parts = path.read_text().split()
            return cls(path.stem, int(parts[0]), int(parts[1]) if len(parts) > 1 else None)
        except (OSError, ValueError, IndexError):
            return None

    def stop(self, timeout: float = 15.0) -> bool:
        """SIGTERM the group, SIGKILL what is left after ``timeout``; True when nothing of it remains."""
        if self.is_ours():
            _killpg(self.pid, signal.SIGTERM)
            if not self._wait_gone(timeout):
                _killpg(self.pid, signal.SIGKILL)
        elif not is_alive(self.pid) and group_members(self.pid):  # leader gone, children left in its group
            _killpg(self.pid, signal.SIGKILL)
        return self._wait_gone(5.0)

    def _wait_gone(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if not self.is_ours() and (is_alive(self.pid) or not group_members(self.pid)):
                return True  # ours is gone (a live pid now is someone else's, with its own group)
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
