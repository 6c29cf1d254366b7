"""`python -m data_prep <builder> ...` (see data_prep.cli)."""

import sys

from data_prep.cli import main

sys.exit(main())
