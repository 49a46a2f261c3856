"""The offline jobs (check, run, analyze, monitor, compare, demo) and their views.

A job gathers values from the sources, calls the core, and hands frozen results to its
view. Jobs may import core, sources, deploy (the live config and archive) and the contract.
"""
