"""``python -m lowstakes`` is the ``lowstakes`` command."""

import sys

from lowstakes.cli import main

sys.exit(main())
