"""Every third-party dependency botwatch pulls, with its licence; exits 1 on copyleft or unknown.

Three ecosystems, each read from what is really installed or built, not from a
hand-kept list:

- Python: the distributions botwatch requires (all extras), recursively, from
  their installed metadata (``License-Expression``, ``License``, classifiers);
- Go: the modules compiled into the collector and Alertmanager binaries
  (``go version -m``), each classified by the LICENSE file in the module cache;
- npm: ``querycheck/node_modules`` (the query grammars), from each package.json.

    python scripts/licences.py            # a Markdown table per ecosystem, then the verdict
    python scripts/licences.py --summary  # counts per licence only

Allowed: Apache-2.0, MIT, BSD, ISC, MPL-2.0, PSF, Unlicense, CC0, zlib, BlueOak,
0BSD, and LGPL for Python packages only (linked dynamically, never vendored).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ALLOWED = ("Apache", "MIT", "BSD", "ISC", "MPL", "PSF", "Python", "Unlicense", "CC0", "Zlib", "BlueOak", "0BSD")
FORBIDDEN = ("AGPL", "Affero", "GPL-2", "GPL-3", "GPLv", "SSPL", "BUSL", "Commons Clause", "Elastic")
_TEXT_MARKERS = (  # first match wins: MPL-2.0 names the GPL as a "secondary licence", so it comes first
    ("Mozilla Public License", "MPL-2.0"),
    ("CC0 1.0 Universal", "CC0-1.0"),
    ("GNU AFFERO GENERAL PUBLIC LICENSE", "AGPL"),
    ("GNU LESSER GENERAL PUBLIC LICENSE", "LGPL"),
    ("GNU GENERAL PUBLIC LICENSE", "GPL"),
    ("Apache License", "Apache-2.0"),
    ("Permission is hereby granted, free of charge", "MIT"),
    ("Redistribution and use in source and binary forms", "BSD"),
    ("Permission to use, copy, modify, and/or distribute", "ISC"),
    ("Permission to use, copy, modify, and distribute", "ISC"),
    ("This is free and unencumbered software", "Unlicense"),
)


def verdict(licence: str, ecosystem: str) -> str:
    if not licence or licence == "UNKNOWN":
        return "unknown"
    if "LGPL" in licence or "Lesser General Public" in licence:
        return "ok" if ecosystem == "python" else "copyleft"
    if any(word in licence for word in FORBIDDEN) or re.search(r"\bGPL\b", licence):
        return "copyleft"
    return "ok" if any(word.lower() in licence.lower() for word in ALLOWED) else "unknown"


# -- Python ---------------------------------------------------------------------
def _python_licence(dist: metadata.Distribution) -> str:
    meta = dist.metadata
    expression = meta.get("License-Expression")
    if expression:
        return str(expression)
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    if classifiers:
        return " / ".join(sorted(set(classifiers)))
    text = (meta.get("License") or "").strip()
    return text.splitlines()[0][:60] if text else "UNKNOWN"


def _requirement_name(requirement: str) -> tuple[str, str]:
    """(name, marker) of a Requires-Dist line."""
    name = re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0]
    marker = requirement.split(";", 1)[1] if ";" in requirement else ""
    return name.lower().replace("_", "-"), marker


def python_dependencies(root: str = "botwatch") -> Iterator[tuple[str, str, str]]:
    seen: set[str] = set()
    stack = [root]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency that is not installed here (another platform, say)
        if name != root:
            yield name, dist.version, _python_licence(dist)
        for requirement in dist.requires or []:
            dependency, marker = _requirement_name(requirement)
            if "extra ==" in marker and name != root:
                continue  # a dependency's own extras are not pulled
            stack.append(dependency)


# -- Go -------------------------------------------------------------------------
def _escaped(module: str) -> str:
    """The module cache's spelling: upper-case letters become '!' + lower case."""
    return re.sub(r"[A-Z]", lambda m: "!" + m.group(0).lower(), module)


def _licence_file(directory: Path) -> str:
    for candidate in sorted(directory.glob("*")):
        if re.match(r"(?i)^(licen[cs]e|copying)(\.\w+)?$", candidate.name) and candidate.is_file():
            text = candidate.read_text(errors="replace")
            for marker, licence in _TEXT_MARKERS:
                if marker.lower() in text.lower():
                    return licence
            return "UNKNOWN"
    return ""


def _go_module_licence(module_cache: Path, module: str, version: str) -> str:
    directory = module_cache / f"{_escaped(module)}@{version}"
    found = _licence_file(directory)
    path = module
    while not found and "/" in path:  # a nested module (go.opentelemetry.io/collector/x) takes its root's licence
        path = path.rsplit("/", 1)[0]
        found = _licence_file(module_cache / f"{_escaped(path)}@{version}")
    if found:
        return found
    return "UNKNOWN" if directory.is_dir() else "not in the module cache"


def go_binaries() -> list[Path]:
    cache = Path(os.environ.get("BOTWATCH_CACHE") or Path.home() / ".cache" / "botwatch")
    candidates = [REPO / "collector" / "dist" / "otelcol-botwatch", cache / "bin" / "alertmanager"]
    return [path for path in candidates if path.is_file()]


def go_dependencies(binaries: list[Path]) -> Iterator[tuple[str, str, str]]:
    go = os.environ.get("GO", "go")
    module_cache = Path(subprocess.run([go, "env", "GOMODCACHE"], capture_output=True, text=True).stdout.strip())
    seen: set[tuple[str, str]] = set()
    for binary in binaries:
        listing = subprocess.run([go, "version", "-m", str(binary)], capture_output=True, text=True, check=True)
        for line in listing.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] in ("dep", "=>"):
                module, version = parts[1], parts[2]
                if (module, version) not in seen and version != "(devel)":
                    seen.add((module, version))
                    yield module, version, _go_module_licence(module_cache, module, version)


# -- npm ------------------------------------------------------------------------
def npm_dependencies(root: Path = REPO / "querycheck" / "node_modules") -> Iterator[tuple[str, str, str]]:
    for manifest in sorted(root.glob("**/package.json")):
        if manifest.parent.parent.name not in ("node_modules",) and not manifest.parent.parent.name.startswith("@"):
            continue
        try:
            package = json.loads(manifest.read_text())
        except ValueError:
            continue
        if "name" in package and "version" in package:
            licence = package.get("license") or "UNKNOWN"
            yield package["name"], package["version"], licence if isinstance(licence, str) else json.dumps(licence)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--summary", action="store_true", help="counts per licence only")
    args = parser.parse_args(argv)
    ecosystems = {
        "python": sorted(python_dependencies()),
        "go": sorted(go_dependencies(go_binaries())),
        "npm": sorted(set(npm_dependencies())),
    }
    bad = []
    for ecosystem, rows in ecosystems.items():
        counts = Counter(licence for _, _, licence in rows)
        print(f"\n{ecosystem}: {len(rows)} packages — " + ", ".join(f"{n} {lic}" for lic, n in counts.most_common()))
        if not args.summary:
            print("| package | version | licence |\n|---|---|---|")
            for name, version, licence in rows:
                print(f"| {name} | {version} | {licence} |")
        bad += [(ecosystem, n, v, lic) for n, v, lic in rows if verdict(lic, ecosystem) != "ok"]
    if not ecosystems["go"]:
        print("\ngo: no built binary found (collector/build.sh, alerts/build-alertmanager.sh)", file=sys.stderr)
    for ecosystem, name, version, licence in bad:
        print(f"NOT ALLOWED or unknown: {ecosystem} {name} {version}: {licence}", file=sys.stderr)
    print(f"\n{sum(len(r) for r in ecosystems.values())} dependencies, {len(bad)} not allowed or unknown")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
