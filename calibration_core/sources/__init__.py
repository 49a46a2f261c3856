"""Readers of the outside world: trades, signals, the cadence client, pre-flight probes.

The example-data generator writes the trade dialects these modules read.

They may import the pure core and the contract, never the jobs, deployer, runtime or CLI.
"""
