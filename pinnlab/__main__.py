"""``python -m pinnlab ...`` runs the command line, like the ``pinnlab`` script."""

import sys

from .cli import main

sys.exit(main())
