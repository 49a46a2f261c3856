"""Tests of calibration_core (pytest + hypothesis)."""
