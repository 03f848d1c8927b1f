"""The settings (collab/config.py): what is refused when they are built, and what is never shown."""

from __future__ import annotations

import pytest

from collab.config import ConfigError, Settings


def test_secrets_are_not_in_the_settings_repr():
    settings = Settings(
        token_secret="s" * 40,
        bot_password="bot-secret-1234",
        redis="redis://:redis-password@localhost",
        admin_token="admin-token-1234",
        metrics_token="metrics-token-1234",
    )
    for secret in ("s" * 40, "bot-secret-1234", "redis-password", "admin-token-1234", "metrics-token-1234"):
        assert secret not in repr(settings)


def test_a_short_token_secret_is_a_config_error():
    with pytest.raises(ConfigError):
        Settings(token_secret="short")


def test_tls_needs_both_files():
    with pytest.raises(ConfigError):
        Settings(tls_cert="cert.pem")


def test_bad_trusted_proxy_values_are_a_config_error():
    with pytest.raises(ConfigError):
        Settings(trusted_proxy=("not-an-ip",))
