"""``python -m botwatch.cli``: the same as the ``botwatch`` command."""

import sys

from botwatch.cli import main

sys.exit(main())
