"""Shared fixtures. Each fixture module under tests/fixtures/ owns one real part."""

pytest_plugins = [
    "tests.fixtures.redis",
    "tests.fixtures.upstream",
]
