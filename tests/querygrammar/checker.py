"""Runs querycheck/check.mjs (Node + the Lezer grammars) over a batch of queries."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.binaries import REPO, missing

QUERYCHECK = REPO / "querycheck"
SCRIPT = QUERYCHECK / "check.mjs"
LANGUAGES = ("logql", "traceql", "promql")


@dataclass(frozen=True)
class Query:
    lang: str
    text: str
    where: str  # file and target, and the variable values used


@dataclass(frozen=True)
class Verdict:
    query: Query
    errors: list[dict[str, Any]] = field(default_factory=list)

    def explain(self) -> str:
        lines = [f"{self.query.where} ({self.query.lang}):", f"    {self.query.text}"]
        for e in self.errors:
            lines.append(f"    line {e['line']} column {e['column']} [{e['rule']}]: {e['message']}")
            if e is self.errors[0] and "\n" not in self.query.text:
                lines.append("    " + " " * e["from"] + "^")
        return "\n".join(lines)


def node() -> Path:
    """The node binary; a missing one skips (fails with CI=true), missing packages fail."""
    found = shutil.which("node")
    if found is None:
        missing("node not found: install Node.js 20+ (Debian: apt-get install nodejs npm), then npm ci in querycheck/")
    if not (QUERYCHECK / "node_modules" / "@grafana" / "lezer-logql").is_dir():
        raise AssertionError("querycheck/node_modules is missing: run scripts/install-deps.sh (npm ci in querycheck/)")
    return Path(found)


def check(queries: list[Query]) -> list[Verdict]:
    """One verdict per query, in order; the checker must answer every one."""
    lines = "".join(json.dumps({"lang": q.lang, "query": q.text, "where": q.where}) + "\n" for q in queries)
    done = subprocess.run(
        [str(node()), str(SCRIPT)], input=lines, capture_output=True, text=True, cwd=QUERYCHECK, timeout=120
    )
    assert done.returncode in (0, 1), f"check.mjs exit {done.returncode}: {done.stderr}"
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(answers) == len(queries), f"check.mjs answered {len(answers)} of {len(queries)} queries"
    verdicts = []
    for query, answer in zip(queries, answers, strict=True):
        assert answer["where"] == query.where and answer["ok"] == (not answer["errors"]), answer
        verdicts.append(Verdict(query, answer["errors"]))
    return verdicts
