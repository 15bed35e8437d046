"""Shared fixtures. Each fixture module under tests/fixtures/ owns one real part."""

from collections.abc import Iterator

import pytest

from shield.observe.logs import reset_logging

pytest_plugins = [
    "tests.fixtures.redis",
    "tests.fixtures.upstream",
    "tests.fixtures.recorder",
]


@pytest.fixture(autouse=True)
def _fresh_structlog() -> Iterator[None]:
    """structlog's configuration is process-wide: a test that configures it must not leak a level
    or a stream into the next test's capture_logs()."""
    yield
    reset_logging()
