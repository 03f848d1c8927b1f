"""Settings: built once at the edge from flags, ``COLLAB_*`` environment variables and defaults.

Every option lives in ``OPTIONS`` below, once: the command line, the environment, the README's
configuration table and the frozen :class:`Settings` are all derived from it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError


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


MIB = 1024 * 1024

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
    Option("commit_idle_s", 5.0, "Save a changed page after this many idle seconds.", float),
    Option("commit_max_s", 30.0, "Save at least this often while typing goes on.", float),
    Option("poll_s", 3.0, "Poll the wiki for outside edits of open pages every N seconds.", float),
    Option(
        "rcfeed_port",
        0,
        "UDP port receiving the wiki's `$wgRCFeeds` JSON push (0: polling only).",
        int,
    ),
    Option("unload_idle_s", 60.0, "Unload a page from memory after it has no editors and is saved.", float),
    Option(
        "max_message_bytes",
        32 * MIB,
        "Largest accepted Socket.IO message (a 2 MB page's full state is ~3 MB).",
        int,
    ),
    Option("log_level", "info", "Logging level: debug, info, warning, error."),
)


@dataclass(frozen=True)
class Settings:
    """The running service's configuration (immutable; units in names)."""

    host: str = "127.0.0.1"
    port: int = 8765
    wiki_api: str = ""
    bot_user: str = ""
    bot_password: str = field(default="", repr=False)
    bot_password_file: str = ""
    data_dir: Path = Path("./collab-data")
    commit_idle_s: float = 5.0
    commit_max_s: float = 30.0
    poll_s: float = 3.0
    rcfeed_port: int = 0
    unload_idle_s: float = 60.0
    max_message_bytes: int = 32 * MIB
    log_level: str = "info"

    def __post_init__(self) -> None:
        if self.commit_idle_s <= 0 or self.commit_max_s < self.commit_idle_s:
            raise ConfigError("need 0 < --commit-idle-s <= --commit-max-s")


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
    known = {f.name for f in fields(Settings)}
    return Settings(**{k: v for k, v in values.items() if k in known})


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
        shown = "" if default in ("", [], None) else f"`{default}`"
        rows.append(f"| {flag} | `{opt.env}` | {shown} | {opt.help} |")
    return "\n".join(rows)
