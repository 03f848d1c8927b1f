"""The benchmark suite: MediaWiki Collab against the best Yjs servers, same machine, same run, same workloads.

    python -m bench.run [--quick] [--trace PATH] [--servers yws,hocus,pycrdt,collab] [--workloads ...]

Installs the peers from their registries (npm packages in ``bench/node_modules``, pycrdt-websocket in
``bench/.venv-peers``), starts a throwaway dev wiki for our server, then runs every workload against every
server, one server process at a time (fresh for each workload), the server pinned to CPU 0 and the load
generator (``bench/loadgen.mjs``, one Node process of real Yjs clients) to CPU 1. Writes
``bench/results/RESULTS.md``, PNG plots and (git-ignored) raw JSON under ``bench/results/raw/``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = BENCH / "data"
RESULTS = BENCH / "results"
PEERS_VENV = BENCH / ".venv-peers"
PEERS_REQUIREMENTS = BENCH / "requirements-peers.txt"
SHIPPED_TRACE = DATA / "seph-blog1.json.gz"
CONCURRENT_TRACES = ("friendsforever", "clownschool")
WIKITEXT_SOURCES = ("United-Kingdom", "anarchism", "toronto")

SERVER_CPU = "0"
LOADGEN_CPU = "1"
# The machine is shared: as root, raise the priority of the server and the load generator over the rest.
NICE = ["nice", "-n", "-10"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []

SERVERS = ("yws", "hocus", "pycrdt", "collab")
LABELS = {
    "yws": "y-websocket server",
    "hocus": "Hocuspocus",
    "pycrdt": "pycrdt-websocket",
    "collab": "MediaWiki Collab",
}
# Every client of the suite is one anonymous user on 127.0.0.1: the per-IP/per-user abuse limits are off.
UNLIMITED = [
    "--updates-per-s", "0", "--user-updates-per-s", "0", "--joins-per-min", "0",
    "--max-connections-per-ip", "0", "--max-connections-per-user", "0", "--connects-per-min", "0",
]  # fmt: skip
WORKLOADS = ("trace", "paced", "concurrent", "fanout", "ramp", "join", "idle", "save")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ---- installing the peers ------------------------------------------------------------------------------
def ensure_node_deps() -> None:
    stamp = BENCH / "node_modules" / ".package-lock.json"
    lock = BENCH / "package-lock.json"
    if stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime:
        return
    log("installing the load generator and the Node peers (npm ci in bench/)")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=BENCH, check=True)


def ensure_peer_venv() -> Path:
    python = PEERS_VENV / "bin" / "python"
    stamp = PEERS_VENV / ".installed"
    if stamp.exists() and stamp.read_text() == PEERS_REQUIREMENTS.read_text():
        return python
    log("installing pycrdt-websocket into bench/.venv-peers (kept apart from the project's venv)")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(PEERS_REQUIREMENTS)], check=True)
    stamp.write_text(PEERS_REQUIREMENTS.read_text())
    return python


# ---- test data -----------------------------------------------------------------------------------------
def wikitext_of_size(target_bytes: int, out: Path) -> Path:
    """Concatenate the shipped Wikipedia articles (CC BY-SA) until the text reaches ``target_bytes``."""
    import gzip

    parts = [
        gzip.decompress((DATA / "wikitext" / f"{name}.wikitext.gz").read_bytes()).decode() for name in WIKITEXT_SOURCES
    ]
    chunks: list[str] = []
    size = 0
    copy = 0
    while size < target_bytes:
        for name, text in zip(WIKITEXT_SOURCES, parts, strict=True):
            chunk = f"\n== {name} (copy {copy}) ==\n{text}\n"
            chunks.append(chunk)
            size += len(chunk.encode())
            if size >= target_bytes:
                break
        copy += 1
    text = "".join(chunks).encode()[:target_bytes].decode("utf-8", errors="ignore")
    out.write_text(text, encoding="utf-8")
    return out


# ---- servers -------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """One server under test: how to start it and how its clients reach it."""

    name: str
    transport: str
    command: Callable[[int], list[str]]
    env: dict[str, str] = field(default_factory=dict)
    scheme: str = "ws"
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self, raw_dir: Path) -> None:
        self.port = free_port()
        env = dict(os.environ, HOST="127.0.0.1", PORT=str(self.port), **self.env)
        log_file = open(raw_dir / f"server-{self.name}.log", "ab")
        self.proc = subprocess.Popen(
            [*NICE, "taskset", "-c", SERVER_CPU, *self.command(self.port)],
            cwd=BENCH if self.name != "collab" else ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log_file.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}; see {raw_dir}/server-{self.name}.log"
                )
            if self._ready():
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start in 60 s")

    def _ready(self) -> bool:
        if self.scheme == "http":
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as resp:
                    return resp.status == 200
            except OSError:
                return False
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            # Our server would save every open page on SIGTERM; its data here is throwaway.
            self.proc.send_signal(signal.SIGKILL if self.name == "collab" else signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def make_servers(names: list[str], wiki_env: dict[str, str] | None, data_root: Path) -> dict[str, Server]:
    servers: dict[str, Server] = {}
    for name in names:
        if name == "yws":
            servers[name] = Server(name, "yws", lambda _p: ["node", "servers/ywebsocket.mjs"])
        elif name == "hocus":
            servers[name] = Server(name, "hocus", lambda _p: ["node", "servers/hocuspocus.mjs"])
        elif name == "pycrdt":
            python = str(PEERS_VENV / "bin" / "python")
            servers[name] = Server(name, "yws", lambda _p, py=python: [py, "servers/pycrdt_ws.py"])
        elif name == "collab":
            assert wiki_env is not None

            def command(port: int, env: dict[str, str] = wiki_env) -> list[str]:
                data_dir = tempfile.mkdtemp(prefix="collab-", dir=data_root)
                return [
                    sys.executable, "-m", "collab", "serve", "--port", str(port),
                    "--wiki-api", env["DEVWIKI_API"], "--bot-user", env["DEVWIKI_BOT_USER"],
                    "--data-dir", data_dir, "--commit-idle-s", "3600", "--commit-max-s", "3600",
                    "--log-level", os.environ.get("BENCH_COLLAB_LOG", "warning"), *UNLIMITED,
                ]  # fmt: skip

            servers[name] = Server(
                name,
                "collab",
                command,
                env={"COLLAB_BOT_PASSWORD": wiki_env["DEVWIKI_BOT_PASSWORD"]},
                scheme="http",
            )
    return servers


# ---- workloads -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """Workload parameters of one mode (quick or full)."""

    trace_limit: int | None
    paced_edits: int
    fanout_s: float
    ramp_rates: tuple[int, ...]
    ramp_step_s: float
    join_reps: int
    idle_conns: int
    save_baseline_s: float
    saves: int
    repeat: int


QUICK = Plan(
    trace_limit=30_000,
    paced_edits=1_500,
    fanout_s=8,
    ramp_rates=(5, 10, 20, 30),
    ramp_step_s=4,
    join_reps=3,
    idle_conns=1000,
    save_baseline_s=6,
    saves=1,
    repeat=1,
)
FULL = Plan(
    trace_limit=None,
    paced_edits=6_000,
    fanout_s=20,
    ramp_rates=(5, 10, 15, 20, 25, 30, 40),
    ramp_step_s=6,
    join_reps=7,
    idle_conns=1000,
    save_baseline_s=10,
    saves=3,
    repeat=1,
)


def run_loadgen(server: Server, config: dict[str, Any], raw_dir: Path, tag: str) -> dict[str, Any]:
    assert server.proc is not None
    config = {
        "transport": server.transport,
        "url": server.url,
        "serverPid": server.proc.pid,
        "clkTck": os.sysconf("SC_CLK_TCK"),
        **config,
    }
    # nice and taskset exec the server, so the pid we hold is the server's own.
    with open(raw_dir / f"loadgen-{tag}.log", "ab") as err:
        proc = subprocess.run(
            [
                *NICE,
                "taskset",
                "-c",
                LOADGEN_CPU,
                "node",
                "--max-old-space-size=4096",
                "loadgen.mjs",
                json.dumps(config),
            ],
            cwd=BENCH,
            stdout=subprocess.PIPE,
            stderr=err,
            timeout=900,
        )
    lines = [line for line in proc.stdout.decode().splitlines() if line.startswith("{")]
    if not lines:
        return {"ok": False, "error": f"no result (exit {proc.returncode}); see loadgen-{tag}.log"}
    out: dict[str, Any] = json.loads(lines[-1])
    (raw_dir / f"{tag}.json").write_text(json.dumps({"config": config, **out}, indent=1))
    return out


def start_profiler(server: Server, out: Path) -> subprocess.Popen[bytes]:
    """py-spy (from the project's venv) sampling the server; collapsed stacks written when interrupted."""
    assert server.proc is not None
    spy = Path(sys.executable).parent / "py-spy"
    cmd = [
        str(spy),
        "record",
        "--pid",
        str(server.proc.pid),
        "--rate",
        "250",
        "--gil",
        "--format",
        "raw",
        "-o",
        str(out),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return proc


def configs(workload: str, plan: Plan, trace: Path, files: dict[str, Path]) -> list[tuple[str, dict[str, Any]]]:
    """(label, loadgen config) of each measurement of a workload."""
    if workload == "trace":
        return [("trace", {"workload": "trace", "file": str(trace), "limit": plan.trace_limit, "drainS": 240})]
    if workload == "paced":
        return [
            ("paced", {"workload": "trace", "file": str(trace), "limit": plan.paced_edits, "rate": 300, "drainS": 10})
        ]
    if workload == "concurrent":
        return [(name, {"workload": "concurrent", "file": str(DATA / f"{name}.json.gz")}) for name in CONCURRENT_TRACES]
    if workload == "fanout":
        return [("fanout", {"workload": "fanout", "pages": 50, "editors": 4, "rate": 5, "durationS": plan.fanout_s})]
    if workload == "ramp":
        return [
            (
                "ramp",
                {
                    "workload": "ramp",
                    "pages": 50,
                    "editors": 4,
                    "rates": plan.ramp_rates,
                    "durationS": plan.ramp_step_s,
                },
            )
        ]
    if workload == "join":
        return [
            ("join-trace", {"workload": "join", "kind": "trace", "file": str(trace), "reps": plan.join_reps}),
            ("join-2mb", {"workload": "join", "kind": "wikitext", "file": str(files["2mb"]), "reps": plan.join_reps}),
        ]
    if workload == "idle":
        return [("idle", {"workload": "idle", "pages": 100, "conns": plan.idle_conns})]
    if workload == "save":
        return [
            (
                "save",
                {
                    "workload": "save",
                    "pages": 20,
                    "editors": 4,
                    "rate": 5,
                    "baselineS": plan.save_baseline_s,
                    "saves": plan.saves,
                    "file": str(files["1mb"]),
                },
            )
        ]
    raise ValueError(workload)


def median_result(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose main figure is the median (keeps one run's figures together)."""
    ok = [r for r in runs if r.get("ok")]
    if not ok:
        return runs[-1]
    if len(ok) == 1:
        return ok[0]

    def key(r: dict[str, Any]) -> float:
        res = r["result"]
        for k in ("timeS", "serverCpuPerEditUs", "p50", "perConnKB"):
            if k in res:
                return float(res[k])
        return 0.0

    ok.sort(key=key)
    return ok[len(ok) // 2]


# ---- main ----------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (about 3 minutes in all)")
    parser.add_argument("--trace", type=Path, help="sequential trace for `trace`/`join` (default: shipped seph-blog1)")
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated subset of " + ",".join(SERVERS))
    parser.add_argument(
        "--workloads", default=",".join(WORKLOADS), help="comma-separated subset of " + ",".join(WORKLOADS)
    )
    parser.add_argument("--repeat", type=int, help="runs per measurement (median kept); default 1")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where RESULTS.md and the plots go")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--profile", action="store_true", help="py-spy our server during each run (raw/profile-*.txt)")
    parser.add_argument("--report-from", type=Path, help="only rebuild RESULTS.md and plots from a raw/<stamp> dir")
    args = parser.parse_args(argv)
    if args.report_from:
        return report_from(args.report_from, args.out, quick=args.quick, trace=args.trace or SHIPPED_TRACE)

    plan = QUICK if args.quick else FULL
    repeat = args.repeat or plan.repeat
    names = [s for s in args.servers.split(",") if s]
    workloads = [w for w in args.workloads.split(",") if w]
    for n in names:
        if n not in SERVERS:
            parser.error(f"unknown server {n}")
    for w in workloads:
        if w not in WORKLOADS:
            parser.error(f"unknown workload {w}")
    trace = (args.trace or SHIPPED_TRACE).resolve()
    if not trace.exists():
        parser.error(f"no such trace: {trace}")

    for tool in ("node", "npm", "taskset"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is required")
    if (os.cpu_count() or 1) < 2:
        log("fewer than 2 CPUs: server and load generator will share a core")

    ensure_node_deps()
    if "pycrdt" in names:
        ensure_peer_venv()

    stamp = time.strftime("%Y%m%d-%H%M%S")
    raw_dir = args.out / "raw" / stamp
    raw_dir.mkdir(parents=True, exist_ok=True)
    files = {"1mb": wikitext_of_size(1_000_000, raw_dir / "page-1mb.wikitext")}
    files["2mb"] = wikitext_of_size(2_000_000, raw_dir / "page-2mb.wikitext")

    wiki = None
    wiki_env = None
    data_root = Path(tempfile.mkdtemp(prefix="collab-bench-"))
    if "collab" in names:
        from collab.dev import devwiki

        log("starting a throwaway dev wiki for our server")
        wiki = devwiki.up(data_root / "wiki", free_port(), collab_url=None, quiet=True)
        wiki_env = wiki.env()
    servers = make_servers(names, wiki_env, data_root)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    started = time.monotonic()
    try:
        for workload in workloads:
            for label, config in configs(workload, plan, trace, files):
                for name in names:
                    if workload == "save" and name != "collab":
                        continue
                    runs = []
                    for i in range(repeat):
                        server = servers[name]
                        server.start(raw_dir)
                        spy = None
                        try:
                            tag = f"{label}-{name}-{i}"
                            if args.profile and name == "collab":
                                spy = start_profiler(server, raw_dir / f"profile-{tag}.txt")
                            t0 = time.monotonic()
                            out = run_loadgen(server, config, raw_dir, tag)
                            took = time.monotonic() - t0
                            log(f"{label:>14} {name:<7} run {i + 1}/{repeat}: {summary(out)} ({took:.0f} s)")
                            runs.append(out)
                        finally:
                            if spy is not None:
                                spy.send_signal(signal.SIGINT)
                                spy.wait(30)
                            server.stop()
                    results.setdefault(label, {})[name] = median_result(runs)
    finally:
        for server in servers.values():
            server.stop()
        if wiki is not None:
            from collab.dev import devwiki

            devwiki.down(wiki.dir, wiki.port)
        shutil.rmtree(data_root, ignore_errors=True)
    elapsed = time.monotonic() - started
    (raw_dir / "results.json").write_text(json.dumps(results, indent=1))

    from . import report

    meta = report.machine_info(
        mode="quick" if args.quick else "full", trace=trace, repeat=repeat, elapsed_s=elapsed, names=names
    )
    markdown = report.markdown(results, names, meta)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "RESULTS.md").write_text(markdown)
    print(markdown)
    if not args.no_plots:
        for path in report.plots(results, names, args.out):
            log(f"wrote {path}")
    log(f"raw results in {raw_dir}")
    return 0


def report_from(raw_dir: Path, out_dir: Path, *, quick: bool, trace: Path) -> int:
    """Rebuild the table and plots from the raw JSON of a run (also of one that was cut short)."""
    from . import report

    results: dict[str, dict[str, dict[str, Any]]] = {}
    for path in sorted(raw_dir.glob("*-*-[0-9].json")):
        label, name, _i = path.stem.rsplit("-", 2)
        out = json.loads(path.read_text())
        results.setdefault(label, {})[name] = {k: v for k, v in out.items() if k != "config"}
    names = [n for n in SERVERS if any(n in by for by in results.values())]
    meta = report.machine_info(mode="quick" if quick else "full", trace=trace, repeat=1, elapsed_s=0, names=names)
    meta["elapsed"] = f"(rebuilt from {raw_dir.name})"
    markdown = report.markdown(results, names, meta)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "RESULTS.md").write_text(markdown)
    print(markdown)
    for path in report.plots(results, names, out_dir):
        log(f"wrote {path}")
    return 0


def summary(out: dict[str, Any]) -> str:
    if not out.get("ok"):
        return "FAILED: " + str(out.get("error", ""))[:300]
    r = out["result"]
    bits = []
    for key in ("timeS", "serverCpuPerEditUs", "p50", "perConnKB", "saturation", "ratioP99"):
        if key in r and isinstance(r[key], int | float):
            bits.append(f"{key}={r[key]:.3g}")
    if "latency" in r and r["latency"].get("n"):
        bits.append(f"p50={r['latency']['p50']:.3g}ms p99={r['latency']['p99']:.3g}ms")
    for key in ("converged", "drained", "errors"):
        if key in r:
            bits.append(f"{key}={r[key]}")
    return " ".join(bits)


if __name__ == "__main__":
    sys.exit(main())
