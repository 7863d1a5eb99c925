"""``python -m tests.peer [pytest options]``: see :mod:`tests.peer.runner`."""

import sys

from tests.peer.runner import run

sys.exit(run(sys.argv[1:]).returncode)
