"""Domain types and rules: no I/O, no transport, no storage."""
