"""I/O behind small interfaces: drop sources, the store, export writers, API channels."""
