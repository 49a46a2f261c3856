"""The runtime the host imports: the loader, its snapshots and the host-compatible API.

The optional Prometheus collector lives here too.

It imports only the contract (constants, exceptions, config, settings), numpy, attrs and
watchdog.
"""
