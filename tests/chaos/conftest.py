"""The long chaos run (``chaos_long``, minutes) runs only when asked for: ``pytest -m chaos_long`` or
``make chaos``; every other selection leaves it out."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "chaos_long" in (config.option.markexpr or ""):
        return
    skipped = [item for item in items if item.get_closest_marker("chaos_long")]
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = [item for item in items if item not in skipped]
