"""The checkout's root and its tests/ folder, for tests that read files of the repository.

Built from this file's place (tests/harness/), not from each test module's: moving a
test into a subfolder changes nothing.
"""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
