"""`python -m hlodiff.cli ...` runs the `hlodiff` command line."""

import sys

from hlodiff.cli import main

sys.exit(main())
