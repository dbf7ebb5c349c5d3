"""Allow `python -m equiv ...`."""

import sys

from equiv.driver.cli import main

sys.exit(main())
