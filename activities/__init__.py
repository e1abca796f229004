"""Temporal activities: thin adapters over the protocol clients in ``activities.clients``."""
