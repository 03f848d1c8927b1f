"""``collab devwiki up|down|env``: the dev wiki on the project's command line."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from .lifecycle import down, up
from .wikidir import DEFAULT_COLLAB_URL, DEFAULT_DIR, DEFAULT_PORT, DevWiki, DevWikiError, read_config


def add_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``devwiki up|down|env`` on the project CLI's sub-command parsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="wiki directory (%(default)s)")
    common.add_argument("--port", type=int, default=DEFAULT_PORT, help="port on 127.0.0.1 (%(default)s)")
    parser = subparsers.add_parser(
        "devwiki",
        help="throwaway local MediaWiki for development and tests",
        description="A real MediaWiki 1.39 (SQLite, PHP built-in server) on 127.0.0.1.",
    )
    commands = parser.add_subparsers(dest="devwiki_command", metavar="{up,down,env}", required=True)
    up_help = "create a fresh wiki, start it, print export lines"
    up_parser = commands.add_parser("up", parents=[common], help=up_help)
    up_parser.add_argument(
        "--collab-url",
        default=DEFAULT_COLLAB_URL,
        help="collab server whose /static/loader.js the wiki loads; '' for none (default: %(default)s)",
    )
    up_parser.add_argument("--rcfeed-port", type=int, help="UDP port for the JSON recent-changes feed")
    up_parser.set_defaults(func=_cli_up)
    down_parser = commands.add_parser("down", parents=[common], help="stop the wiki and delete its directory")
    down_parser.set_defaults(func=_cli_down)
    env_parser = commands.add_parser("env", parents=[common], help="print the wiki's export lines")
    env_parser.set_defaults(func=_cli_env)


def _exports(wiki: DevWiki) -> str:
    """``export NAME=value`` lines (shell-quoted) for the wiki's environment."""
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in wiki.env().items())


def _cli_up(args: argparse.Namespace) -> int:
    """``devwiki up``: fresh wiki, progress on stderr, export lines on stdout."""
    try:
        wiki = up(args.dir, args.port, collab_url=args.collab_url, rcfeed_port=args.rcfeed_port)
    except DevWikiError as error:
        print(f"devwiki up: error: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(_exports(wiki))
    return 0


def _cli_env(args: argparse.Namespace) -> int:
    """``devwiki env``: the export lines of the wiki in ``--dir``."""
    wiki = DevWiki(Path(args.dir).absolute(), args.port)
    config = read_config(wiki.dir)
    if config is None:
        print(f"devwiki env: error: no dev wiki in {wiki.dir} (run `devwiki up` first)", file=sys.stderr)
        return 1
    if config.port != args.port:
        print(
            f"devwiki env: error: the wiki in {wiki.dir} uses port {config.port}, not {args.port}",
            file=sys.stderr,
        )
        return 1
    sys.stdout.write(_exports(wiki))
    return 0


def _cli_down(args: argparse.Namespace) -> int:
    """``devwiki down``: stop the server and delete the directory."""
    try:
        down(args.dir, args.port)
    except DevWikiError as error:
        print(f"devwiki down: error: {error}", file=sys.stderr)
        return 1
    print(f"[devwiki] stopped and removed {Path(args.dir).absolute()}", file=sys.stderr)
    return 0
