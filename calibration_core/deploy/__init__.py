"""The deployer: job records, approve, abort, rollback, archive, audit trail, lock.

It owns the on-disk state of the config directory and may import the core, the sources
(the cadence notice) and the contract.
"""
