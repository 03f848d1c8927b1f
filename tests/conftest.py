"""Shared pytest configuration."""

pytest_plugins = ["tests.plugins.devwiki", "tests.plugins.server", "tests.plugins.browser", "tests.plugins.redis"]
