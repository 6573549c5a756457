"""``python -m ddfast``: the ``ddfast`` command (see ``ddfast.tools.cli``)."""

import sys

from ddfast.tools.cli import main

if __name__ == "__main__":
    sys.exit(main())
