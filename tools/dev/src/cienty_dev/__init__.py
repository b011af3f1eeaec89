"""Local development tooling; never part of a service image."""
