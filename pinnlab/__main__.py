"""``python -m pinnlab ...`` runs the command line, like the ``pinnlab`` script."""

import sys

from pinnlab.commands.main import main

sys.exit(main())
