"""Settings: built once at the edge from flags, ``COLLAB_*`` environment variables and defaults.

Every option lives in ``OPTIONS`` below, once: the command line, the environment, the README's
configuration table and the frozen :class:`Settings` are all derived from it.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final, TypeVar

from .errors import ConfigError
from .wiki import CHANGE_TAG


@dataclass(frozen=True)
class Option:
    """One setting: ``--flag`` on the command line, ``COLLAB_NAME`` in the environment."""

    name: str
    default: Any
    help: str
    kind: Callable[[str], Any] = str
    flag_style: str = "value"  # "value", "bool" (--x / --no-x), "list" (repeatable)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return "COLLAB_" + self.name.upper()


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _bool(value: str) -> bool:
    if value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if value.strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


MIB: Final = 1024 * 1024
MIN_SECRET_BYTES: Final = 32
"""Shortest token secret, admin token and metrics token accepted: guessing 256 bits is out of reach."""
STATIC_DIR: Final = Path(__file__).parent / "static"
"""The package's browser files: the editor page and bundle (``app``), the admin dashboard (``admin``)."""

OPTIONS: tuple[Option, ...] = (
    Option("host", "127.0.0.1", "Address to listen on."),
    Option("port", 8765, "TCP port to listen on.", int),
    Option("wiki_api", "", "The wiki's api.php URL, e.g. https://wiki.example.org/w/api.php (required)."),
    Option("bot_user", "", "Bot password user name, `Name@AppId` (Special:BotPasswords) (required)."),
    Option(
        "bot_password_file",
        "",
        "File holding the bot password (else the `COLLAB_BOT_PASSWORD` environment variable).",
    ),
    Option("data_dir", "./collab-data", "Directory of the durable update log and co-author records."),
    Option("commit_idle_s", 60.0, "Save a changed page after this many idle seconds.", float),
    Option("commit_max_s", 600.0, "Save at least this often while typing goes on.", float),
    Option("poll_s", 3.0, "Poll the wiki for outside edits of open pages every N seconds.", float),
    Option(
        "change_tag",
        CHANGE_TAG,
        "Change tag on every revision the server saves, when the wiki defines it (Special:Tags); empty: none.",
    ),
    Option(
        "tag_check_s",
        60.0,
        "While the wiki lacks the change tag, look for it again before a save at most every N seconds.",
        float,
    ),
    Option(
        "bot_flag",
        False,
        "Flag the server's revisions as bot edits (hidden by Recent changes' and watchlists' default filters, so "
        "patrollers miss what collaborators wrote); off by default.",
        _bool,
        "bool",
    ),
    Option(
        "rcfeed_port",
        0,
        "UDP port receiving the wiki's `$wgRCFeeds` JSON push (0: polling only).",
        int,
    ),
    Option("unload_idle_s", 60.0, "Unload a page from memory after it has no editors and is saved.", float),
    Option(
        "max_message_bytes",
        16 * MIB,
        "Largest accepted message: a larger one gets a `toolarge` error and a disconnect, no reconnect loop "
        "(a 2 MB page's full state is ~3-5 MB; the transport accepts twice this so the server can say why).",
        int,
    ),
    Option(
        "max_send_buffer_bytes",
        32 * MIB,
        "Most unsent output one connection may have queued (its answers and the pages' changes): a client "
        'that does not read is cut off above it (logged, `collab_connections_cut{reason="send_buffer"}`). '
        "At least `--max-message-bytes`; 0: no limit.",
        int,
    ),
    # ---- access control and abuse limits (docs/security.md) ----
    Option(
        "allow_readonly",
        True,
        "Users the wiki lets read but not edit a page may join it read-only (else they are refused).",
        _bool,
        "bool",
    ),
    Option(
        "anonymous",
        True,
        "Accept connections without a wiki session or token (then the wiki's rules for IP users apply).",
        _bool,
        "bool",
    ),
    Option("recheck_s", 60.0, "Ask the wiki again every N seconds whether each editor may still edit.", float),
    Option(
        "token_secret",
        "",
        "HS256 secret (>= 32 bytes) of signed tokens minted by the wiki; empty: tokens are refused. "
        "Prefer the environment variable or `--token-secret-file` (flags show in `ps`).",
    ),
    Option("token_secret_file", "", "File holding the token secret."),
    Option(
        "token_audience",
        "",
        "Required `aud` claim of signed tokens (e.g. this server's URL); empty: `aud` is not checked.",
    ),
    Option("token_issuer", "", "Required `iss` claim of signed tokens (e.g. the wiki's URL); empty: not checked."),
    Option(
        "allowed_origin",
        (),
        "Browser origin allowed to connect (repeatable); the wiki's own origin and this server's are always allowed.",
        str,
        "list",
    ),
    Option("tls_cert", "", "PEM certificate chain: serve https/wss directly (with `--tls-key`)."),
    Option("tls_key", "", "PEM private key of `--tls-cert`."),
    Option(
        "trusted_proxy",
        (),
        "Address or CIDR of a reverse proxy whose `X-Forwarded-For` is believed (repeatable); none by default.",
        str,
        "list",
    ),
    Option(
        "max_document_bytes",
        0,
        "Largest page text in bytes; a change beyond it is refused (0: the wiki's `maxarticlesize`).",
        int,
    ),
    Option(
        "max_clients_per_update",
        128,
        "Yjs client ids one update may write with (a browser's lists one; each id is metadata the page keeps "
        "for ever); more: refused (0: unlimited).",
        int,
    ),
    Option(
        "max_new_clients_per_connection",
        512,
        "Yjs client ids new to their page that one connection may bring in over its life (a browser brings one "
        "per page); more: refused (0: unlimited).",
        int,
    ),
    Option(
        "updates_per_s",
        100.0,
        "Messages a second per connection (token bucket holding 5 s of it; 0: unlimited).",
        float,
    ),
    Option(
        "user_updates_per_s",
        300.0,
        "Messages a second per logged-in user over all their connections (bucket of 5 s; 0: unlimited).",
        float,
    ),
    Option(
        "joins_per_min",
        300.0,
        "Page joins a minute per user (per IP address when anonymous); 0: unlimited.",
        float,
    ),
    Option(
        "connects_per_min",
        300.0,
        "New connections a minute per IP address, counted before the wiki is asked who they are (a burst of a "
        "minute of it); 0: unlimited.",
        float,
    ),
    Option(
        "identity_cache_s",
        5.0,
        "Seconds a wiki session's identity (`meta=userinfo`) is remembered per cookie for connects and admin "
        "checks (0: ask the wiki every time). Page rights are always asked afresh.",
        float,
    ),
    Option("max_connections_per_ip", 500, "Connections from one IP address (0: unlimited).", int),
    Option("max_connections_per_user", 100, "Connections of one logged-in user (0: unlimited).", int),
    Option("max_pages_per_connection", 50, "Pages one connection may have open at once (0: unlimited).", int),
    Option(
        "redis",
        "",
        "Cluster mode: Redis URL (`redis://host:6379/0`) shared by every node (docs/scaling.md); empty: one node.",
    ),
    Option(
        "commit_lease_s",
        10.0,
        "Cluster mode: a page's commit lease expires this long after its holder stops renewing it (dies).",
        float,
    ),
    Option("log_level", "info", "Logging level: debug, info, warning, error."),
    Option(
        "admin_group",
        "sysop",
        "Wiki user group whose members may open `/admin`, read `/api/sessions` and act on sessions.",
    ),
    Option(
        "admin_token",
        "",
        "Bearer token (>= 32 bytes) for scripts and `collab sessions` (admin API and namespace); empty: wiki "
        "admins only. Prefer the environment variable or `--admin-token-file` (flags show in `ps`).",
    ),
    Option("admin_token_file", "", "File holding the admin token."),
    Option(
        "metrics_token",
        "",
        "Bearer token (>= 32 bytes) required by `/metrics`; empty: `/metrics` is open, like most exporters.",
    ),
    Option("metrics_token_file", "", "File holding the metrics token."),
    Option(
        "transport",
        "lean",
        "`lean`: python-socketio on our lean WebSocket loop (fast; checked against the installed library at "
        "start); `stock`: python-socketio exactly as shipped (slower; for an untested library upgrade).",
    ),
)


_OPTION = {opt.name: opt for opt in OPTIONS}
T = TypeVar("T")


def default(name: str, kind: type[T]) -> T:
    """The default of option ``name`` in ``OPTIONS``, checked (when the module loads) to be a ``kind``."""
    value = _OPTION[name].default
    if not isinstance(value, kind):
        raise TypeError(f"OPTIONS[{name!r}].default is {value!r}, not a {kind.__name__}")
    return value


@dataclass(frozen=True)
class Settings:
    """The running service's configuration (immutable; units in names).

    One field per option of ``OPTIONS`` (plus ``bot_password``, read from a file or the environment), each
    defaulting to the option's default: tests build one with keyword overrides, ``settings_from`` from the
    command line and the environment.
    """

    host: str = default("host", str)
    port: int = default("port", int)
    wiki_api: str = default("wiki_api", str)
    bot_user: str = default("bot_user", str)
    bot_password: str = field(default="", repr=False)
    bot_password_file: str = default("bot_password_file", str)
    data_dir: Path = Path(default("data_dir", str))
    commit_idle_s: float = default("commit_idle_s", float)
    commit_max_s: float = default("commit_max_s", float)
    poll_s: float = default("poll_s", float)
    change_tag: str = default("change_tag", str)
    tag_check_s: float = default("tag_check_s", float)
    bot_flag: bool = default("bot_flag", bool)
    rcfeed_port: int = default("rcfeed_port", int)
    unload_idle_s: float = default("unload_idle_s", float)
    max_message_bytes: int = default("max_message_bytes", int)
    max_send_buffer_bytes: int = default("max_send_buffer_bytes", int)
    allow_readonly: bool = default("allow_readonly", bool)
    anonymous: bool = default("anonymous", bool)
    recheck_s: float = default("recheck_s", float)
    token_secret: str = field(default=default("token_secret", str), repr=False)
    token_secret_file: str = default("token_secret_file", str)
    token_audience: str = default("token_audience", str)
    token_issuer: str = default("token_issuer", str)
    allowed_origin: tuple[str, ...] = default("allowed_origin", tuple)
    tls_cert: str = default("tls_cert", str)
    tls_key: str = default("tls_key", str)
    trusted_proxy: tuple[str, ...] = default("trusted_proxy", tuple)
    max_document_bytes: int = default("max_document_bytes", int)
    max_clients_per_update: int = default("max_clients_per_update", int)
    max_new_clients_per_connection: int = default("max_new_clients_per_connection", int)
    updates_per_s: float = default("updates_per_s", float)
    user_updates_per_s: float = default("user_updates_per_s", float)
    joins_per_min: float = default("joins_per_min", float)
    connects_per_min: float = default("connects_per_min", float)
    identity_cache_s: float = default("identity_cache_s", float)
    max_connections_per_ip: int = default("max_connections_per_ip", int)
    max_connections_per_user: int = default("max_connections_per_user", int)
    max_pages_per_connection: int = default("max_pages_per_connection", int)
    redis: str = field(default=default("redis", str), repr=False)  # the URL may hold a password
    commit_lease_s: float = default("commit_lease_s", float)
    log_level: str = default("log_level", str)
    admin_group: str = default("admin_group", str)
    admin_token: str = field(default=default("admin_token", str), repr=False)
    admin_token_file: str = default("admin_token_file", str)
    metrics_token: str = field(default=default("metrics_token", str), repr=False)
    metrics_token_file: str = default("metrics_token_file", str)
    transport: str = default("transport", str)

    def __post_init__(self) -> None:
        if self.commit_idle_s <= 0 or self.commit_max_s < self.commit_idle_s:
            raise ConfigError("need 0 < --commit-idle-s <= --commit-max-s")
        object.__setattr__(self, "allowed_origin", tuple(self.allowed_origin))
        object.__setattr__(self, "trusted_proxy", tuple(self.trusted_proxy))
        if self.tag_check_s < 0:
            raise ConfigError("--tag-check-s must be >= 0")
        if self.recheck_s <= 0:
            raise ConfigError("--recheck-s must be > 0")
        if self.transport not in ("lean", "stock"):
            raise ConfigError("--transport must be lean or stock")
        if self.commit_lease_s <= 0:
            raise ConfigError("--commit-lease-s must be > 0")
        if self.redis and not self.redis.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("--redis must be a redis://, rediss:// or unix:// URL")
        if self.max_message_bytes < 64 * 1024:
            raise ConfigError("--max-message-bytes must be at least 65536")
        if self.max_send_buffer_bytes and self.max_send_buffer_bytes < self.max_message_bytes:
            # else one legal message (a large page's state) to a client would always cut it off
            raise ConfigError("--max-send-buffer-bytes must be 0 or at least --max-message-bytes")
        for what, secret in (
            ("the token secret (HS256)", self.token_secret),
            ("--admin-token", self.admin_token),
            ("--metrics-token", self.metrics_token),
        ):
            if secret and len(secret.encode()) < MIN_SECRET_BYTES:
                hint = "e.g. `openssl rand -hex 32`"
                raise ConfigError(f"{what} must be at least {MIN_SECRET_BYTES} bytes long ({hint})")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("--tls-cert and --tls-key go together")
        limits = (self.max_document_bytes, self.updates_per_s, self.user_updates_per_s, self.joins_per_min)
        rates = (self.connects_per_min, self.identity_cache_s)
        counts = (self.max_connections_per_ip, self.max_connections_per_user, self.max_pages_per_connection,
                  self.max_clients_per_update, self.max_new_clients_per_connection)  # fmt: skip
        if min(*limits, *rates, *counts) < 0:
            raise ConfigError("limits must be >= 0 (0: unlimited)")
        for proxy in self.trusted_proxy:
            try:
                ipaddress.ip_network(proxy.strip(), strict=False)
            except ValueError as exc:
                raise ConfigError(f"--trusted-proxy: {exc}") from None


# Settings has a field for each option and nothing else but the secret read from a file or the environment.
if _unmatched := {f.name for f in fields(Settings)} ^ {*_OPTION, "bot_password"}:
    raise TypeError(f"Settings and OPTIONS disagree on {sorted(_unmatched)}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every option of ``OPTIONS`` to ``parser`` (defaults come later, from the environment)."""
    for opt in OPTIONS:
        if opt.flag_style == "bool":
            parser.add_argument(opt.flag, dest=opt.name, action=argparse.BooleanOptionalAction, help=opt.help)
        elif opt.flag_style == "list":
            parser.add_argument(opt.flag, dest=opt.name, action="append", help=opt.help)
        else:
            parser.add_argument(opt.flag, dest=opt.name, type=opt.kind, help=opt.help)


def settings_from(args: argparse.Namespace, environ: os._Environ[str] | dict[str, str] | None = None) -> Settings:
    """Resolve each option: command line, else ``COLLAB_*`` environment variable, else default.

    Raises:
        ConfigError: a value does not parse, or a file cannot be read.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for opt in OPTIONS:
        value = getattr(args, opt.name, None)
        if value is None and opt.env in env:
            raw = env[opt.env]
            try:
                if opt.flag_style == "bool":
                    value = _bool(raw)
                elif opt.flag_style == "list":
                    value = _csv(raw)
                else:
                    value = opt.kind(raw)
            except ValueError as exc:
                raise ConfigError(f"{opt.env}: {exc}") from None
        values[opt.name] = opt.default if value is None else value
    values["data_dir"] = Path(values["data_dir"])
    values["bot_password"] = _bot_password(values["bot_password_file"], env)
    for name in ("token_secret", "admin_token", "metrics_token"):
        path = values[f"{name}_file"]
        if path and not values[name]:
            values[name] = _read_secret(path, f"--{name.replace('_', '-')}-file")
    return Settings(**values)


def _read_secret(path: str, flag: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {flag} {path}: {exc.strerror}") from None


def _bot_password(path: str, env: os._Environ[str] | dict[str, str]) -> str:
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read --bot-password-file {path}: {exc.strerror}") from None
    return env.get("COLLAB_BOT_PASSWORD", "")


def markdown_table(options: Sequence[Option] = OPTIONS) -> str:
    """The configuration table for the README (a test keeps the README equal to it)."""
    rows = ["| flag | environment | default | meaning |", "|---|---|---|---|"]
    for opt in options:
        default = opt.default
        if opt.flag_style == "bool":
            flag = f"`{opt.flag}` / `--no-{opt.flag[2:]}`"
        else:
            flag = f"`{opt.flag}`"
        shown = "" if default in ("", (), None) else f"`{default}`"
        rows.append(f"| {flag} | `{opt.env}` | {shown} | {opt.help} |")
    return "\n".join(rows)


def update_readme(path: Path) -> bool:
    """Rewrite the configuration table between the README's markers. Returns whether it changed."""
    text = path.read_text(encoding="utf-8")
    start, end = "<!-- config-table -->", "<!-- /config-table -->"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    new = f"{head}{start}\n{markdown_table()}\n{end}{tail}"
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":  # python -m collab.config: refresh the README's configuration table
    update_readme(Path(__file__).parents[1] / "README.md")
