"""Cluster adapter (Redis): the page log in Streams, relay between nodes, commit leases, presence."""
