"""The pure core: the mathematics and every decision.

Modules here import numpy, attrs, math and the contract (constants, exceptions,
config, _arrays, text) only: no file, clock, thread, socket or watcher.
"""
