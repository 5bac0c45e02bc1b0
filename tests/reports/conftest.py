"""Fixtures of the report tests: the shared company of :mod:`tests.reports.world`."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def world(app):
    """The report company (read-only; tests that change the data scope reset it)."""
    from tests.reports.world import World

    return World(app)


@pytest.fixture
def scoped(world):
    yield world
    world.scope()
