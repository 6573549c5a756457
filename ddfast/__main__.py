"""``python -m ddfast``: the ``ddfast`` command (see ``ddfast.cli``)."""

import sys

from ddfast.cli import main

if __name__ == "__main__":
    sys.exit(main())
