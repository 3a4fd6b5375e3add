"""Build every dashboard and write (or check) the committed JSON.

    python -m dashboards            write dashboards/json/*.json
    python -m dashboards --check    exit 1 if the committed JSON differs

Output is stable: sorted keys, fixed uids and panel ids, no timestamps.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafanalib import core
from grafanalib._gen import DashboardEncoder

from dashboards import audit, funnel, overview, pipeline
from dashboards.builder import DashboardError

OUTPUT_DIR = Path(__file__).resolve().parent / "json"

BUILDERS: dict[str, Callable[[], core.Dashboard]] = {
    overview.UID: overview.build,
    funnel.UID: funnel.build,
    audit.UID: audit.build,
    pipeline.UID: pipeline.build,
}


def to_json(board: core.Dashboard) -> str:
    data: Any = json.loads(json.dumps(board.to_json_data(), cls=DashboardEncoder))
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def render_all() -> dict[str, str]:
    """File name -> JSON text for every dashboard."""
    return {f"{uid}.json": to_json(build()) for uid, build in BUILDERS.items()}


def write_all(output_dir: Path = OUTPUT_DIR) -> list[Path]:
    output_dir.mkdir(parents=True, exist_ok=True)
    rendered = render_all()
    written = []
    for name, text in rendered.items():
        path = output_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    for stale in sorted(set(output_dir.glob("*.json")) - set(written)):
        stale.unlink()
    return written


def differences(output_dir: Path = OUTPUT_DIR) -> list[str]:
    """Files under ``output_dir`` that are missing, stale or differ from the generator's output."""
    rendered = render_all()
    found = []
    for name, text in rendered.items():
        path = output_dir / name
        if not path.is_file():
            found.append(f"{path}: missing")
        elif path.read_text(encoding="utf-8") != text:
            found.append(f"{path}: differs from the generator's output")
    for path in sorted(output_dir.glob("*.json")):
        if path.name not in rendered:
            found.append(f"{path}: not produced by the generator")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards", description="Build botwatch's Grafana dashboards.")
    parser.add_argument("--check", action="store_true", help="do not write; fail if the committed JSON is stale")
    parser.add_argument("--output", type=Path, default=OUTPUT_DIR, help=f"directory for the JSON ({OUTPUT_DIR})")
    args = parser.parse_args(argv)
    try:
        if args.check:
            found = differences(args.output)
            for line in found:
                print(line, file=sys.stderr)
            if found:
                print("run: python -m dashboards", file=sys.stderr)
            return 1 if found else 0
        for path in write_all(args.output):
            print(path)
    except DashboardError as error:
        print(f"dashboards: {error}", file=sys.stderr)
        return 2
    return 0
