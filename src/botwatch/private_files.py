"""Files botwatch writes hold conversations and keys: owner-only (0600) in owner-only directories (0700).

Only what botwatch creates is restricted: a directory that already exists (the
user's home, ``/tmp``, the current directory) keeps its mode.  No umask juggling
either: the umask is process-wide, and a bot's threads create files of their own.
A file is created 0600 by ``os.open`` and SQLite gives its ``-wal``/``-shm`` the
database file's mode.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dirs(directory: Path) -> None:
    """Create ``directory`` and its missing parents, each 0700; existing ones are left alone."""
    missing: list[Path] = []
    current = directory
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:  # another process made it meanwhile
            continue
        path.chmod(DIR_MODE)  # mkdir's mode is narrowed by the umask, never widened; make it exact


def create_private(path: Path) -> bool:
    """Create ``path`` empty and 0600 (parents 0700) unless it exists; True if it was created here."""
    private_dirs(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


@contextlib.contextmanager
def replace_privately(path: Path) -> Iterator[BinaryIO]:
    """Write ``path`` whole or not at all: a 0600 ``.part`` beside it, renamed over it at the end.

    The result is 0600 even where ``path`` existed with a wider mode. OSError
    from creating, writing or renaming propagates after the ``.part`` is removed.
    """
    partial = path.with_name(path.name + ".part")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        os.fchmod(fd, FILE_MODE)  # a stale .part from an earlier run keeps its mode otherwise
        with os.fdopen(fd, "wb") as out:
            yield out
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
