"""``python -m daisynet.tools.cli``: the daisynet command."""

import sys

from daisynet.tools.cli import main

if __name__ == "__main__":  # not when a tool walks the package's modules
    sys.exit(main())
