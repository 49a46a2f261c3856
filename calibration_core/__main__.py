"""Run the calibration_core command line: ``python -m calibration_core <job>``."""

import sys

from calibration_core.cli.main import main

sys.exit(main())
