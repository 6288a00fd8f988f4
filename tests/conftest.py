"""Shared fixtures: real services (``tests/services_fixtures.py``)."""

from tests.services_fixtures import broker_bootstrap, redis_url

__all__ = ["broker_bootstrap", "redis_url"]
