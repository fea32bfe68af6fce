"""Pluggable decisions: how capacity is split among waiting workers, retries, routing, caps."""

__all__: list[str] = []
