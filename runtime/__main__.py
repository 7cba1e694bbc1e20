"""`python -m runtime` is the `coserve` command."""

import sys

from runtime.cli import main

sys.exit(main())
