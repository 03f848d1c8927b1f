"""The Debian packages a dev wiki runs on (MediaWiki 1.39, PHP with SQLite), installed on demand."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess

from .commands import MEDIAWIKI_ROOT, run, say
from .wikidir import DevWikiError

APT_PACKAGES = ("mediawiki", "php-sqlite3", "php-cli", "php-intl", "php-mbstring", "php-xml")


def missing_packages() -> list[str]:
    """The Debian packages of :data:`APT_PACKAGES` that ``dpkg -s`` does not report as installed."""
    return [package for package in APT_PACKAGES if not _dpkg_installed(package)]


def ensure_packages(*, quiet: bool = False) -> None:
    """Install the missing Debian packages MediaWiki needs (``apt-get``, as root)."""
    if shutil.which("dpkg") is None:
        if shutil.which("php") and (MEDIAWIKI_ROOT / "maintenance" / "install.php").is_file():
            return  # not Debian, but MediaWiki and PHP are where we need them
        raise DevWikiError(f"dpkg not found: the dev wiki needs the Debian packages {' '.join(APT_PACKAGES)}")
    missing = missing_packages()
    if not missing:
        return
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    if os.geteuid() != 0:
        raise DevWikiError(f"missing Debian packages; as root run: apt-get update && {shlex.join(install)}")
    say(f"installing Debian packages: {' '.join(missing)}", quiet)
    apt_env = {"DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-q"], what="apt-get update", env=apt_env)
    run(install, what="apt-get install", env=apt_env)


def _dpkg_installed(package: str) -> bool:
    """Whether ``dpkg -s`` reports ``package`` as installed (not merely known or half-removed)."""
    result = subprocess.run(["dpkg", "-s", package], capture_output=True, text=True, check=False)
    return result.returncode == 0 and "Status: install ok installed" in result.stdout
