"""Files botwatch writes are private (0600 in 0700 dirs); a short secret is refused; audit reads never write."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from botwatch.cli import main
from botwatch.journal import Journal, JournalError
from botwatch.settings import MIN_SECRET_BYTES, SecretError, load_secret

GOOD_SECRET = "files-test-secret-0123456789"
AUDIT_COMMANDS = (
    ("kpi", "--since", "8d", "--json"),
    ("sessions", "--since", "8d", "--json", "--limit", "500"),
    ("replay", "demo-2-1"),
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def demo_journal(path: Path, monkeypatch: pytest.MonkeyPatch, n: int = 12, seed: int = 2) -> Path:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.setenv("BOTWATCH_SECRET", GOOD_SECRET)
    assert main(["demo", "-n", str(n), "--seed", str(seed), "--journal", str(path)]) == 0
    return path


def checkpoint(path: Path) -> None:
    """The last read-write connection to close folds the WAL in and removes -wal and -shm."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    assert not path.with_name(path.name + "-wal").exists()


# -- permissions ----------------------------------------------------------------------------------
def test_journal_wal_shm_are_0600_in_new_0700_dirs_whatever_the_umask(tmp_path, monkeypatch, capsys):
    tmp_path.chmod(0o755)
    journal = tmp_path / "new" / "deeper" / "journal.sqlite"
    old = os.umask(0)  # the widest umask: the modes must not come from it
    try:
        demo_journal(journal, monkeypatch)
        with Journal(journal):  # a reader open keeps -wal and -shm in place for the check
            for suffix in ("", "-wal", "-shm"):
                assert mode(journal.with_name(journal.name + suffix)) == 0o600, suffix
    finally:
        os.umask(old)
    assert mode(tmp_path / "new") == 0o700 and mode(tmp_path / "new" / "deeper") == 0o700
    assert mode(tmp_path) == 0o755  # a directory botwatch did not create keeps its mode


def test_exports_and_reports_are_0600_even_over_a_wider_file(tmp_path, monkeypatch, capsys):
    journal = demo_journal(tmp_path / "journal.sqlite", monkeypatch)
    outputs = {
        "csv": tmp_path / "events.csv",
        "jsonl": tmp_path / "events.jsonl",
        "xlsx": tmp_path / "events.xlsx",
        "report": tmp_path / "report.html",
    }
    for path in outputs.values():
        path.write_text("old")
        path.chmod(0o644)
    old = os.umask(0)
    try:
        for fmt in ("csv", "jsonl", "xlsx"):
            args = ["export", "--since", "8d", "--format", fmt, "--out", str(outputs[fmt]), "--quiet"]
            assert main([*args, "--journal", str(journal)]) == 0
        assert main(["report", "--since", "8d", "--out", str(outputs["report"]), "--journal", str(journal)]) == 0
    finally:
        os.umask(old)
    for name, path in outputs.items():
        assert mode(path) == 0o600, name
        assert path.read_bytes() != b"old", name
    assert not list(tmp_path.glob("*.part"))


def test_created_secret_is_0600_in_a_0700_dir_and_the_same_for_racing_processes(tmp_path):
    path = tmp_path / "data" / "botwatch" / "secret"
    code = (
        "import sys; from botwatch.settings import load_secret; "
        "sys.stdout.write(load_secret(None, {'BOTWATCH_SECRET_FILE': sys.argv[1]}).decode())"
    )
    racers = [
        subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True) for _ in range(6)
    ]
    keys = {racer.communicate(timeout=60)[0] for racer in racers}
    assert all(racer.returncode == 0 for racer in racers)
    assert len(keys) == 1 and len(keys.pop()) == 64
    assert mode(path) == 0o600 and mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == ["secret"]  # no drafts left behind


# -- secrets --------------------------------------------------------------------------------------
@pytest.mark.parametrize("content", [b"", b"\n", b"   \n", b"short\n", b"x" * (MIN_SECRET_BYTES - 1)])
def test_empty_or_short_secret_file_is_refused(tmp_path, content):
    path = tmp_path / "secret"
    path.write_bytes(content)
    with pytest.raises(SecretError) as raised:
        load_secret(None, {"BOTWATCH_SECRET_FILE": str(path)})
    message = str(raised.value)
    assert str(path) in message and f"at least {MIN_SECRET_BYTES} bytes" in message
    assert f"openssl rand -hex 32 > {path}" in message
    assert (" is empty:" in message) == (not content.strip())


def test_short_secret_variable_is_refused_and_a_long_one_kept_as_is(tmp_path):
    with pytest.raises(SecretError, match=r"BOTWATCH_SECRET is only 5 bytes.*openssl rand -hex 32"):
        load_secret(None, {"BOTWATCH_SECRET": "short", "BOTWATCH_SECRET_FILE": str(tmp_path / "s")})
    assert load_secret(None, {"BOTWATCH_SECRET": "x" * MIN_SECRET_BYTES}) == b"x" * MIN_SECRET_BYTES
    path = tmp_path / "good"
    path.write_bytes(b"y" * MIN_SECRET_BYTES + b"\n")
    assert load_secret(None, {"BOTWATCH_SECRET_FILE": str(path)}) == b"y" * MIN_SECRET_BYTES
    assert not (tmp_path / "s").exists()  # a refused variable does not fall back to creating a file


def test_a_short_secret_passed_in_code_is_refused_too(tmp_path):
    with pytest.raises(SecretError, match=r"init\(secret=\.\.\.\) is only 6 bytes"):
        load_secret("secret", {"BOTWATCH_SECRET_FILE": str(tmp_path / "unused")})
    long = "k" * MIN_SECRET_BYTES
    assert load_secret(long, {}) == long.encode()


@pytest.mark.parametrize("command", [("demo", "-n", "1"), ("audit", "label", "demo-2-1", "--turn", "1", "--correct")])
def test_cli_refuses_an_empty_secret_file_with_a_message(tmp_path, monkeypatch, capsys, command):
    journal = demo_journal(tmp_path / "journal.sqlite", monkeypatch, n=3)
    before = journal.read_bytes()
    secret = tmp_path / "secret"
    secret.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOTWATCH_", "OTEL_"))}
    env["BOTWATCH_SECRET_FILE"] = str(secret)
    cmd = [sys.executable, "-m", "botwatch.cli", *command, "--journal", str(journal)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"the secret file {secret} is empty" in done.stderr and f"openssl rand -hex 32 > {secret}" in done.stderr
    assert journal.read_bytes() == before  # nothing recorded with a guessable key


# -- audit commands never write -------------------------------------------------------------------
def test_audit_commands_leave_the_journal_untouched(tmp_path, monkeypatch, capsys):
    journal = demo_journal(tmp_path / "j" / "journal.sqlite", monkeypatch)
    checkpoint(journal)
    before = (journal.read_bytes(), journal.stat().st_mtime_ns)
    for args in AUDIT_COMMANDS:
        assert main([*args, "--journal", str(journal)]) == 0, args
    assert main(["export", "--since", "8d", "--out", str(tmp_path / "e.csv"), "--journal", str(journal)]) == 0
    assert main(["report", "--since", "8d", "--out", str(tmp_path / "r.html"), "--journal", str(journal)]) == 0
    assert (journal.read_bytes(), journal.stat().st_mtime_ns) == before
    wal = journal.with_name(journal.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # a reader may open an empty WAL, never fill it


def _unshare_works() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True, check=False)
    return probe.returncode == 0


needs_unshare = pytest.mark.skipif(not _unshare_works(), reason="no user+mount namespaces (unshare -rm) here")


def read_only(directory: Path, *cmd: str) -> subprocess.CompletedProcess[str]:
    """``cmd`` with ``directory`` remounted read-only (a private mount namespace: root cannot write there either)."""
    script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"'
    env = {**os.environ, "BOTWATCH_SECRET": GOOD_SECRET}
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, "sh", str(directory), *cmd],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def on_read_only_mount(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return read_only(directory, sys.executable, "-m", "botwatch.cli", *args)


@needs_unshare
def test_a_journal_on_a_read_only_mount_is_audited(tmp_path, monkeypatch, capsys):
    directory = tmp_path / "ro"
    journal = demo_journal(directory / "journal.sqlite", monkeypatch)
    checkpoint(journal)  # no -wal, no -shm: SQLite cannot create them there
    denied = read_only(directory, "touch", str(directory / "probe"))
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr  # the mount really is read-only
    outside = tmp_path / "out"
    outside.mkdir()
    for args in AUDIT_COMMANDS:
        done = on_read_only_mount(directory, *args, "--journal", str(journal))
        assert done.returncode == 0, (args, done.stderr)
        assert done.stdout.strip()
    export = on_read_only_mount(
        directory, "export", "--since", "8d", "--out", str(outside / "e.csv"), "--quiet", "--journal", str(journal)
    )
    assert export.returncode == 0, export.stderr
    assert len((outside / "e.csv").read_text(encoding="utf-8-sig").splitlines()) > 12
    report = on_read_only_mount(
        directory, "report", "--since", "8d", "--out", str(outside / "r.html"), "--journal", str(journal)
    )
    assert report.returncode == 0, report.stderr
    assert sorted(p.name for p in directory.iterdir()) == ["journal.sqlite"]


@needs_unshare
def test_read_only_mount_with_a_live_wal_reads_the_newest_records(tmp_path, monkeypatch, capsys):
    directory = tmp_path / "ro"
    journal = demo_journal(directory / "journal.sqlite", monkeypatch, n=5)
    checkpoint(journal)
    holder = sqlite3.connect(journal)  # a writer keeps -wal/-shm, as a running bot does
    try:
        holder.execute("SELECT COUNT(*) FROM spans").fetchone()  # holds the WAL index open
        demo_journal(journal, monkeypatch, n=7, seed=3)  # 7 more conversations, in the WAL only
        assert journal.with_name("journal.sqlite-wal").stat().st_size > 0
        done = on_read_only_mount(directory, "kpi", "--since", "8d", "--json", "--journal", str(journal))
        assert done.returncode == 0, done.stderr
        assert '"conversations": 12' in done.stdout
    finally:
        holder.close()


@needs_unshare
def test_read_only_mount_with_a_wal_but_no_shm_says_what_to_do(tmp_path, monkeypatch, capsys):
    directory = tmp_path / "ro"
    source = demo_journal(tmp_path / "live" / "journal.sqlite", monkeypatch, n=4)
    holder = sqlite3.connect(source)
    try:
        holder.execute("SELECT COUNT(*) FROM spans").fetchone()  # holds the WAL index open
        demo_journal(source, monkeypatch, n=3, seed=3)
        directory.mkdir()
        for suffix in ("", "-wal"):  # copied while a writer holds it: a WAL with records, no -shm
            shutil.copy(f"{source}{suffix}", directory / f"journal.sqlite{suffix}")
    finally:
        holder.close()
    done = on_read_only_mount(directory, "kpi", "--journal", str(directory / "journal.sqlite"))
    assert done.returncode == 3 and "Traceback" not in done.stderr
    assert "journal.sqlite-wal" in done.stderr and "Copy journal.sqlite and journal.sqlite-wal" in done.stderr


def test_reader_of_a_missing_or_foreign_file_still_explains(tmp_path):
    with pytest.raises(JournalError, match="no journal there yet"):
        Journal(tmp_path / "missing.sqlite")
    foreign = tmp_path / "foreign.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE patients (name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match="not a botwatch journal"):
        Journal(foreign)
