"""One registry of ``BOTWATCH_*`` variables (botwatch.env): the README's table matches it, nothing reads around it."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from harness.paths import REPO as ROOT

from botwatch import env
from botwatch.env import ConfigError
from botwatch.settings import Settings

PACKAGE = ROOT / "src" / "botwatch"
README = ROOT / "README.md"
NAME = re.compile(r"^BOTWATCH_[A-Z0-9_]+$")


def readme_block() -> str:
    text = README.read_text()
    section = text.split("### Configuration\n", 1)[1].split("\n## ", 1)[0]
    return section.split("<!-- botwatch.env:begin -->\n", 1)[1].split("<!-- botwatch.env:end -->", 1)[0]


def test_every_variable_is_documented_once_with_a_meaning_and_a_reader():
    names = [var.name for var in env.REGISTRY]
    assert len(names) == len(set(names)), "a variable registered twice"
    for var in env.REGISTRY:
        assert NAME.match(var.name), var.name
        assert var.meaning and var.reader and var.kind, var.name
        assert var.kind in {"text", "path", "url", "secret", "list", "bool", "int", "number", "choice"}, var.name
        assert bool(var.choices) == (var.kind == "choice"), var.name


def test_readme_table_is_the_registry():
    block = readme_block()
    in_readme = set(re.findall(r"^\| `(BOTWATCH_[A-Z0-9_]+)` \|", block, flags=re.M))
    registered = {var.name for var in env.REGISTRY}
    assert registered - in_readme == set(), "registered but not in the README's Configuration table"
    assert in_readme - registered == set(), "in the README's Configuration table but not in botwatch/env.py"
    assert block == env.markdown_table(), "README table differs from the registry: run `python -m botwatch.env`"


def test_python_m_botwatch_env_prints_the_table():
    out = subprocess.run([sys.executable, "-m", "botwatch.env"], capture_output=True, text=True, check=True).stdout
    assert out == env.markdown_table() and "`BOTWATCH_JOURNAL`" in out


def _name_literals(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants that are exactly a variable name (prose that mentions one is left alone)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and NAME.match(node.value):
            found.append((node.lineno, node.value))
    return found


def test_no_module_but_env_names_a_variable_to_read_it():
    """A ``"BOTWATCH_X"`` literal outside env.py is a read (or write) that bypasses the registry."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "env.py":
            continue
        for line, value in _name_literals(ast.parse(path.read_text(), str(path))):
            offenders.append(f"{path.relative_to(ROOT)}:{line}: {value!r}")
    assert not offenders, "use botwatch.env instead of the name:\n" + "\n".join(offenders)


def test_every_name_the_package_mentions_is_registered():
    """Docstrings, help and error texts name only variables that exist (a typo or a removed one fails)."""
    registered = {var.name for var in env.REGISTRY}
    mentioned: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for name in re.findall(r"\bBOTWATCH_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()):
            mentioned.setdefault(name, str(path.relative_to(ROOT)))
    unknown = {name: where for name, where in mentioned.items() if name not in registered and not name.endswith("_")}
    assert not unknown, f"mentioned but not registered: {unknown}"


def test_the_scan_catches_a_literal_read():
    tree = ast.parse('import os\nx = os.environ.get("BOTWATCH_JOURNAL")\ny = "set BOTWATCH_JOURNAL to a path"\n')
    assert _name_literals(tree) == [(2, "BOTWATCH_JOURNAL")]


# -- one rule for a bad value: ConfigError naming the variable, the value, what is expected ------------------
@pytest.mark.parametrize(
    ("var", "value", "read", "expected"),
    [
        (env.CAPTURE_CONTENT, "maybe", lambda v, e: v.flag(e), "one of true/false"),
        (env.PROMETHEUS_PORT, "http", lambda v, e: v.integer(e, low=0, high=65535), "a whole number from 0 to 65535"),
        (env.PROMETHEUS_PORT, "70000", lambda v, e: v.integer(e, low=0, high=65535), "from 0 to 65535"),
        (env.RETENTION_DAYS, "-3", lambda v, e: v.number(e), "a number greater than 0"),
        (env.ROLE, "boss", lambda v, e: v.choice(e), "one of owner, manager"),
        (env.LABEL_BUDGET, "0", lambda v, e: v.integer(e, low=1), "a whole number of at least 1"),
    ],
)
def test_a_bad_value_is_a_config_error_naming_it(var, value, read, expected):
    with pytest.raises(ConfigError) as caught:
        read(var, {var.name: value})
    message = str(caught.value)
    assert message.startswith(f"{var.name}={value!r}: expected") and expected in message


def test_empty_is_unset_and_values_are_stripped():
    assert env.JOURNAL.raw({env.JOURNAL.name: "  "}) is None
    assert env.INTENTS.items({env.INTENTS.name: " a, ,b "}) == ("a", "b")
    assert env.CAPTURE_CONTENT.flag({env.CAPTURE_CONTENT.name: " OFF "}, True) is False


def _settings(environ: dict[str, str], tmp_path: Path) -> Settings:
    return Settings.resolve(env={env.SECRET_FILE.name: str(tmp_path / "secret"), **environ})


def test_settings_resolve_reads_only_the_env_it_is_given(tmp_path, monkeypatch):
    monkeypatch.setenv(env.CHANNELS.name, "from-process")
    monkeypatch.setenv(env.JOURNAL.name, str(tmp_path / "process.sqlite"))
    settings = _settings({env.CHANNELS.name: "max, vk", "XDG_DATA_HOME": str(tmp_path / "data")}, tmp_path)
    assert "max" in settings.channels and "vk" in settings.channels
    assert "from-process" not in settings.channels  # the known bug: BOTWATCH_CHANNELS came from os.environ
    assert settings.journal_path == tmp_path / "data" / "botwatch" / "journal.sqlite"


def test_settings_resolve_bad_value_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match=r"BOTWATCH_MAX_TENANTS='many': expected a whole number of at least 1"):
        _settings({env.MAX_TENANTS.name: "many"}, tmp_path)
    with pytest.raises(ConfigError, match=r"BOTWATCH_TENANT='a b': expected 1-64 of"):
        _settings({env.TENANT.name: "a b"}, tmp_path)


def test_the_journal_path_is_computed_in_one_place(tmp_path):
    from botwatch.journal.journal_settings import journal_path

    environ = {env.JOURNAL.name: str(tmp_path / "j.sqlite")}
    assert env.journal_path(None, environ) == tmp_path / "j.sqlite"
    assert journal_path(tmp_path / "explicit.sqlite") == tmp_path / "explicit.sqlite"
    assert env.journal_path(None, {"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "botwatch" / "journal.sqlite"


def test_the_gateway_keeps_its_state_beside_the_journal(tmp_path):
    pytest.importorskip("starlette", reason="the gateway extra (the lean SDK run has no extras)")
    from botwatch.gateway.gateway_config import default_state_path

    environ = {env.JOURNAL.name: str(tmp_path / "j.sqlite")}
    assert default_state_path(environ) == tmp_path / "gateway-state.sqlite"


def test_the_cli_prints_one_line_for_a_bad_value(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "botwatch.cli", "demo", "--conversations", "1", "--journal", str(tmp_path / "j.sqlite")],
        capture_output=True,
        text=True,
        env={"PATH": "", "HOME": str(tmp_path), env.CAPTURE_CONTENT.name: "maybe"},
        timeout=60,
    )
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1, run.stderr
    assert lines[0] == "botwatch: BOTWATCH_CAPTURE_CONTENT='maybe': expected one of true/false/1/0/yes/no/on/off"
    assert not (tmp_path / "j.sqlite").exists()  # stopped before writing anything


def test_integration_settings_from_the_environment_fail_the_same_way(monkeypatch):
    from botwatch.integrations.business_settings import business_timezone, non_client_chats

    monkeypatch.setenv(env.TIMEZONE.name, "Mars/Olympus")
    with pytest.raises(ConfigError, match=r"^BOTWATCH_TIMEZONE='Mars/Olympus': expected an IANA time zone"):
        business_timezone()
    with pytest.raises(ValueError, match=r"^timezone='Mars/Olympus'") as caught:
        business_timezone("Mars/Olympus")  # an argument: a plain ValueError naming the argument
    assert not isinstance(caught.value, ConfigError)
    monkeypatch.setenv(env.NON_CLIENT_CHATS.name, "12, admin")
    with pytest.raises(ConfigError, match=r"^BOTWATCH_NON_CLIENT_CHATS='12, admin': expected Telegram chat ids"):
        non_client_chats()


def test_the_default_journal_follows_xdg_data_home(tmp_path, monkeypatch):
    from botwatch.journal.journal_settings import default_journal_path

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_journal_path() == env.default_journal() == tmp_path / "botwatch" / "journal.sqlite"
