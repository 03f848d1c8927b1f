"""Pytest plugin: real ``redis-server`` processes (Debian's) on free ports, each with its own directory.

``redis_server(appendfsync="everysec")`` starts one with append-only persistence only (no RDB snapshots,
so a restart proves the AOF alone brings the data back); ``.stop()`` (SIGTERM: Redis flushes the AOF),
``.kill()`` (SIGKILL), ``.start()``, ``.restart()``; ``.url``; ``.client()`` a synchronous redis-py client.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.support.net import free_port


@dataclass
class RedisProcess:
    dir: Path
    port: int
    appendfsync: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            "redis-server",
            "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
            "--appendonly", "yes", "--appendfsync", self.appendfsync, "--save", "",
            "--logfile", str(self.dir / "redis.log"), "--daemonize", "no", "--protected-mode", "no",
        ]  # fmt: skip

    def start(self) -> RedisProcess:
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}:\n{self.log()[-2000:]}")
            try:
                if self.client().ping():
                    return self
            except redis.exceptions.BusyLoadingError:
                pass  # replaying the AOF
            except redis.exceptions.ConnectionError:
                pass
            time.sleep(0.05)  # polling a process that is starting: nothing to wait on
        raise RuntimeError(f"redis-server did not start:\n{self.log()[-2000:]}")

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=10)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> RedisProcess:
        self.stop()
        return self.start()

    def log(self) -> str:
        path = self.dir / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""


RedisFactory = Callable[..., RedisProcess]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisFactory]:
    """Start Redis servers, e.g. ``redis_server(appendfsync="always")``; all stopped after the test."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (make deps installs it)")
    started: list[RedisProcess] = []

    def start(appendfsync: str = "everysec") -> RedisProcess:
        directory = tmp_path / f"redis{len(started)}"
        directory.mkdir()
        server = RedisProcess(directory, free_port(), appendfsync)
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()
