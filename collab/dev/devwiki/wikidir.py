"""A dev wiki's directory: :class:`DevWiki`, the record of how it was created (:data:`CONFIG_FILE`), and
deleting it (only ever a directory that holds that record, or an empty one)."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from .accounts import ADMIN, ALICE, BOB, BOT, BOT_APPID, BOT_PASSWORD

DEFAULT_PORT = 8181
DEFAULT_DIR = Path(tempfile.gettempdir()) / "collab-devwiki"
DEFAULT_COLLAB_URL = "http://127.0.0.1:8765"

HOST = "127.0.0.1"
"""The wiki listens on, and its ``$wgServer`` names, the IPv4 loopback address (never ``localhost``)."""

CONFIG_FILE = "devwiki.json"
"""Written first into every wiki directory: it marks the directory as ours (safe to delete)."""
PID_FILE = "server.pid"
SERVER_LOG = "server.log"
MAINTENANCE_LOG = "maintenance.log"


class DevWikiError(RuntimeError):
    """The dev wiki could not be installed, started or stopped; the message says why."""


@dataclass(frozen=True)
class Config:
    """How a wiki was created; stored as JSON in ``<dir>/devwiki.json``."""

    port: int
    collab_url: str | None = None
    rcfeed_port: int | None = None


@dataclass(frozen=True)
class DevWiki:
    """A dev wiki: its directory and the port it is served on."""

    dir: Path
    port: int

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8181``."""
        return f"http://{HOST}:{self.port}"

    @property
    def api(self) -> str:
        """URL of ``api.php``."""
        return f"{self.url}/api.php"

    @property
    def index(self) -> str:
        """URL of ``index.php``."""
        return f"{self.url}/index.php"

    @property
    def local_settings(self) -> Path:
        """The wiki's ``LocalSettings.php`` (pass it to PHP as ``MW_CONFIG_FILE``)."""
        return self.dir / "LocalSettings.php"

    @property
    def rcfeed_port(self) -> int | None:
        """UDP port receiving the JSON recent-changes feed, or None when no feed is configured."""
        config = read_config(self.dir)
        return config.rcfeed_port if config else None

    @property
    def collab_url(self) -> str | None:
        """Base URL of the collab server whose loader ``MediaWiki:Common.js`` loads, if installed."""
        config = read_config(self.dir)
        return config.collab_url if config else None

    def env(self) -> dict[str, str]:
        """Environment variables describing this wiki and its accounts (see :mod:`collab.dev.devwiki`)."""
        env = {
            "DEVWIKI_URL": self.url,
            "DEVWIKI_API": self.api,
            "DEVWIKI_DIR": str(self.dir),
            "DEVWIKI_ADMIN_USER": ADMIN.name,
            "DEVWIKI_ADMIN_PASSWORD": ADMIN.password,
            "DEVWIKI_ALICE_USER": ALICE.name,
            "DEVWIKI_ALICE_PASSWORD": ALICE.password,
            "DEVWIKI_BOB_USER": BOB.name,
            "DEVWIKI_BOB_PASSWORD": BOB.password,
            "DEVWIKI_BOT_USER": f"{BOT.name}@{BOT_APPID}",
            "DEVWIKI_BOT_PASSWORD": BOT_PASSWORD,
        }
        rcfeed_port = self.rcfeed_port
        if rcfeed_port is not None:
            env["DEVWIKI_RCFEED_PORT"] = str(rcfeed_port)
        return env


def read_config(dir: Path) -> Config | None:
    """The config recorded in ``dir``, or None if there is none (not a dev wiki directory)."""
    try:
        data = json.loads((dir / CONFIG_FILE).read_text())
        return Config(int(data["port"]), data.get("collab_url"), data.get("rcfeed_port"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_config(dir: Path, config: Config) -> None:
    """Record ``config`` in ``dir``."""
    (dir / CONFIG_FILE).write_text(json.dumps(asdict(config), indent=2) + "\n")


def wipe(dir: Path) -> None:
    """Delete ``dir`` if it is a dev wiki directory (or empty); refuse any other existing directory."""
    if not dir.exists():
        return
    if dir.is_dir() and not dir.is_symlink():
        if (dir / CONFIG_FILE).is_file() or not any(dir.iterdir()):
            shutil.rmtree(dir)
            return
    raise DevWikiError(f"refusing to delete {dir}: it is not a dev wiki directory (no {CONFIG_FILE})")
