"""Pytest plugin: real ``collab serve`` processes against the real dev wiki, on free ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from collab.dev.devwiki import DevWiki
from tests.support.net import free_port


@dataclass
class CollabProcess:
    """One server process; restartable with the same data dir and port."""

    wiki: DevWiki
    data_dir: Path
    port: int
    options: dict[str, object]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        env = self.wiki.env()
        cmd = [sys.executable, "-m", "collab", "serve", "--port", str(self.port), "--wiki-api", env["DEVWIKI_API"]]
        cmd += ["--bot-user", env["DEVWIKI_BOT_USER"], "--data-dir", str(self.data_dir), "--log-level", "debug"]
        for name, value in self.options.items():
            flag = "--" + name.replace("_", "-")
            if value is True:
                cmd.append(flag)
            elif value is False:
                cmd.append("--no-" + flag[2:])
            elif isinstance(value, list | tuple):
                for v in value:
                    cmd += [flag, str(v)]
            else:
                cmd += [flag, str(value)]
        return cmd

    def start(self, *, wait: bool = True) -> CollabProcess:
        env = dict(os.environ, COLLAB_BOT_PASSWORD=self.wiki.env()["DEVWIKI_BOT_PASSWORD"], **self.extra_env)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"collab serve exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"collab serve did not become healthy:\n{self.log()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 60) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> CollabProcess:
        self.stop()
        return self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


ServerFactory = Callable[..., CollabProcess]


@pytest.fixture
def collab_server(devwiki: DevWiki, tmp_path: Path) -> Iterator[ServerFactory]:
    """Start servers with options, e.g. ``collab_server(commit_idle_s=1)``; all stopped after the test."""
    started: list[CollabProcess] = []

    def start(**options: object) -> CollabProcess:
        n = len(started)
        server = CollabProcess(
            wiki=devwiki,
            data_dir=tmp_path / f"data{n}",
            port=free_port(),
            options={"poll_s": 1, **options},
            log_path=tmp_path / f"collab{n}.log",
        )
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()
