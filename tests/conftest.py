"""Shared pytest configuration."""

pytest_plugins = ["tests.plugins.devwiki"]
