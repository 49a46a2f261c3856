"""``python -m calibration_core <job>``: argparse and exit codes.

The only place where errors become exit codes.
"""
