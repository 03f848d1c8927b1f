"""``make cluster-demo``: Redis, three cluster nodes, nginx in front and the dev wiki, all on this machine.

``python -m collab.dev.clusterdemo [--dir .demo/cluster]`` starts everything (stopping a previous run first) and
prints where to go; ``--stop`` stops it all. Ports: the wiki 8181, nginx 8800 (editors connect here), the
nodes 8801-8803, Redis 6380 (append-only file, ``appendfsync everysec``). Logs and data stay in ``--dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from . import devwiki
from .procs import stop_group, wait_http

ROOT = Path(__file__).resolve().parents[2]  # the repository: collab/dev/clusterdemo.py
NGINX_EXAMPLE = ROOT / "examples" / "nginx-cluster.conf"
NODE_PORTS = (8801, 8802, 8803)
PROXY_PORT = 8800


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m collab.dev.clusterdemo", description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path(".demo/cluster"), help="where the demo keeps its state")
    parser.add_argument("--wiki-port", type=int, default=8181)
    parser.add_argument("--redis-port", type=int, default=6380)
    parser.add_argument("--stop", action="store_true", help="stop the demo")
    args = parser.parse_args(argv)
    root: Path = args.dir.resolve()
    stop(root, args.wiki_port)
    if args.stop:
        print("cluster demo stopped")
        return 0
    for tool in ("redis-server", "nginx"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (make deps installs it)", file=sys.stderr)
            return 1
    root.mkdir(parents=True, exist_ok=True)
    pids: dict[str, int] = {}
    try:
        return _start(root, args, pids)
    finally:
        (root / "pids.json").write_text(json.dumps(pids))


def _start(root: Path, args: argparse.Namespace, pids: dict[str, int]) -> int:
    redis_dir = root / "redis"
    redis_dir.mkdir(exist_ok=True)
    pids["redis"] = _spawn(
        ["redis-server", "--port", str(args.redis_port), "--bind", "127.0.0.1", "--dir", str(redis_dir),
         "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no"],
        root / "redis.log",
    )  # fmt: skip
    wiki = devwiki.up(root / "wiki", args.wiki_port, collab_url=f"http://127.0.0.1:{PROXY_PORT}")
    env = wiki.env()
    node_env = dict(os.environ, COLLAB_BOT_PASSWORD=env["DEVWIKI_BOT_PASSWORD"])
    for port in NODE_PORTS:
        pids[f"node{port}"] = _spawn(
            [sys.executable, "-m", "collab", "serve", "--port", str(port), "--wiki-api", env["DEVWIKI_API"],
             "--bot-user", env["DEVWIKI_BOT_USER"], "--data-dir", str(root / f"data{port}"),
             "--redis", f"redis://127.0.0.1:{args.redis_port}/0", "--trusted-proxy", "127.0.0.1"],
            root / f"node{port}.log",
            env=node_env,
        )  # fmt: skip
    for port in NODE_PORTS:
        if not wait_http(f"http://127.0.0.1:{port}/healthz", timeout_s=30):
            print(f"node {port} did not start; see {root / f'node{port}.log'}", file=sys.stderr)
            return 1
    nginx_dir = root / "nginx"
    (nginx_dir / "logs").mkdir(parents=True, exist_ok=True)
    (nginx_dir / "tmp").mkdir(exist_ok=True)
    pids["nginx"] = _spawn(
        ["nginx", "-p", str(nginx_dir), "-e", "logs/error.log", "-c", str(NGINX_EXAMPLE), "-g", "daemon off;"],
        root / "nginx.log",
    )
    if not wait_http(f"http://127.0.0.1:{PROXY_PORT}/healthz", timeout_s=20):
        print(f"nginx did not start; see {nginx_dir / 'logs' / 'error.log'}", file=sys.stderr)
        return 1
    print(
        f"""
MediaWiki Collab cluster demo is running: Redis, three nodes, nginx, the dev wiki.

  Edit a page together (log in first, e.g. as Alice in one browser and Bob in another):
    {env["DEVWIKI_URL"]}/index.php?title=Sandbox&action=edit&collab=1
  Editors connect through nginx:  http://127.0.0.1:{PROXY_PORT}/   (nodes: {", ".join(map(str, NODE_PORTS))})
  Kill a node and watch its editors move to the others:  kill -9 {pids["node8801"]}
  Logins:  {env["DEVWIKI_ALICE_USER"]} / {env["DEVWIKI_ALICE_PASSWORD"]}    {env["DEVWIKI_BOB_USER"]} / \
{env["DEVWIKI_BOB_PASSWORD"]}
  Logs: {root}/*.log    Stop it all: make cluster-demo-stop
"""
    )
    return 0


def _spawn(cmd: list[str], log_path: Path, env: dict[str, str] | None = None) -> int:
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(
            cmd, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
    return proc.pid


def stop(root: Path, wiki_port: int) -> None:
    """Stop what a previous run started (nodes first, so they save; then nginx, Redis, the wiki)."""
    pidfile = root / "pids.json"
    if pidfile.exists():
        pids: dict[str, int] = json.loads(pidfile.read_text())
        order = sorted(pids, key=lambda name: (name == "redis", name))  # Redis last: the nodes save through it
        for name in order:
            stop_group(pids[name], timeout_s=30)
        pidfile.unlink()
    if (root / "wiki").exists():
        devwiki.down(root / "wiki", wiki_port)


if __name__ == "__main__":
    raise SystemExit(main())
