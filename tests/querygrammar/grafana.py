"""Grafana's template variables, rendered as its Prometheus, Loki and Tempo data sources send them.

The rules (Grafana's template service and each data source's ``interpolateQueryExpr``):
"All" with a custom ``allValue`` inserts that value as it is; "All" without one is every
option.  Prometheus and Loki regex-escape the values of a multi-value or include-All
variable and join several as ``(a|b)``; Tempo formats with ``pipe`` (``a|b``, no escaping).
An explicit ``${var:format}`` wins.  A variable that is not defined is an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

# Grafana's own pattern: $var, [[var:fmt]], ${var.field:fmt}
VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}")
MODES = ("all", "one", "two")  # every drop-down at "All"; one value chosen; two values chosen
BUILTINS = {
    "all": {"__range": "86400s", "__range_s": "86400", "__range_ms": "86400000", "__rate_interval": "1m",
            "__rate_interval_ms": "60000", "__interval": "15s", "__interval_ms": "15000", "__auto": "1m"},
    "one": {"__range": "3600s", "__range_s": "3600", "__range_ms": "3600000", "__rate_interval": "30s",
            "__rate_interval_ms": "30000", "__interval": "2m", "__interval_ms": "120000", "__auto": "5m"},
}  # fmt: skip
BUILTINS["two"] = BUILTINS["one"]
# Values a person could pick; dots, dashes, slashes and Cyrillic exercise the escaping.
SAMPLES: dict[str, tuple[str, ...]] = {
    "job": ("salon-bot", "clinic.bot-2"),
    "tenant": ("salon-1", "clinic_2"),
    "channel": ("telegram", "whatsapp"),
    "variant": ("A", "b-2"),
    "model": ("gpt-4.1-mini", "yandexgpt/rc"),
    "conversation": ("c-0042-ф",),
}
REGEX_SPECIAL = re.compile(r"[\\$^*{}\[\]'+?.()|]")


class UnknownVariable(ValueError):
    pass


def _regex_escape(value: str) -> str:
    return REGEX_SPECIAL.sub(lambda m: "\\" + m.group(0), value)


def _string_escape(value: str) -> str:
    """The value inside a "..." literal of PromQL or LogQL."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("'", "\\'")


def _format(values: Sequence[str], fmt: str | None, ds_type: str, variable: Mapping[str, Any]) -> str:
    if fmt in ("raw", "csv"):
        return ",".join(values)
    if fmt == "pipe" or (fmt is None and ds_type == "tempo"):
        return "|".join(values)
    if fmt == "regex":  # Grafana's regex format escapes for a regex, not for the string around it
        escaped = [_regex_escape(v) for v in values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
    if fmt is not None:
        raise UnknownVariable(f"format {fmt!r} of ${{{variable['name']}}} is not rendered by this test")
    if not variable.get("multi") and not variable.get("includeAll"):
        return _string_escape(values[0])
    escaped = [_string_escape(_regex_escape(v)) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def _chosen(variable: Mapping[str, Any], mode: str) -> list[str] | None:
    """The selected values; None for "All"."""
    name, kind = variable["name"], variable.get("type")
    if kind == "constant":
        return [str(variable.get("query", ""))]
    if kind == "custom":
        options = [str(o["value"]) for o in variable.get("options", []) if o.get("value") != "$__all"]
    elif name in SAMPLES:
        options = list(SAMPLES[name])
    elif kind == "textbox":
        options = [str(variable.get("query", ""))]
    else:
        raise UnknownVariable(f"no sample values for the {kind} variable ${name}: add them to SAMPLES")
    if kind == "textbox":
        return [str(variable.get("query", ""))] if mode == "all" else options[:1]
    if kind not in ("query", "custom"):
        raise UnknownVariable(f"variable ${name} has type {kind!r}, which this test does not render")
    if mode == "all" and variable.get("includeAll"):
        return None
    return options[:2] if mode == "two" and variable.get("multi") else options[:1]


def render(
    text: str,
    variables: Sequence[Mapping[str, Any]],
    ds_type: str,
    mode: str,
    context: Mapping[str, str] | None = None,
) -> str:
    """``text`` with every variable replaced; ``context`` holds data-link values (``__span.tags...``)."""
    defined = {v["name"]: v for v in variables}
    context = context or {}

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        field, fmt = match.group(5), match.group(3) or match.group(6)
        full = f"{name}.{field}" if field else name
        if full in context:
            return context[full]
        if name in BUILTINS[mode] and not field:
            return BUILTINS[mode][name]
        variable = defined.get(name)
        if variable is None or field:
            raise UnknownVariable(f"{match.group(0)} is not a variable of this dashboard nor a Grafana built-in")
        chosen = _chosen(variable, mode)
        if chosen is None:
            if variable.get("allValue") and fmt not in ("text", "percentencode"):
                return str(variable["allValue"])
            chosen = list(SAMPLES.get(name, ()))
        return _format(chosen, fmt, ds_type, variable)

    return VARIABLE.sub(one, text)
