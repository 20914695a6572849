"""The scale-out layout on one machine: PostgreSQL and an S3-compatible server on 127.0.0.1,
`custody web` (gunicorn, 4 workers), one `custody scheduler` and two `custody worker`s.

    python -m deploy.layout [--folder DIR] [--port 8000] [--own-postgres]

starts it all, prints the address, writes the environment the processes share to DIR/env
(`set -a; . DIR/env` before `custody` commands against the same database; it holds the
vault's master key, so it is readable by its owner only), and keeps it up until Ctrl-C. A
supervisor restarts any role that exits, as systemd's Restart=always would; gunicorn restarts its own workers.

PostgreSQL is either a fresh database on the server at 127.0.0.1:5432 (dropped on stop), or
with `--own-postgres` a private cluster made with initdb on a free port, which the layout
can restart (a fault the load test injects). The S3 server is moto in server mode; the
layout can make it unavailable for a while (it stops answering, as a hung server does).
"""

from __future__ import annotations

import argparse
import base64
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import psycopg

SERVER = "postgresql://postgres@127.0.0.1:5432/test"
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "custody-layout",
    "AWS_SECRET_ACCESS_KEY": "custody-layout",
    "AWS_DEFAULT_REGION": "us-east-1",
}
BUCKET = "custody-vault"
RESTART_AFTER = 1.0  # seconds before the supervisor restarts a role that exited


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(what: str, ready: object, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not ready():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up within {seconds:.0f} s")
        time.sleep(0.2)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(200 <= response.status < 300)
    except OSError:
        return False


class OwnPostgres:
    """A private PostgreSQL cluster in a folder of its own (removed on stop), listening on
    127.0.0.1 only."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            raise RuntimeError("--own-postgres needs PostgreSQL's server binaries (initdb)")
        self.bin = Path(found[-1]).parent
        self.folder = Path(tempfile.mkdtemp(prefix="custody-postgres-"))
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/custody"
        # initdb refuses to run as root: the cluster then belongs to the postgres user.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *command: str, check: bool = True) -> None:
        subprocess.run([*self.as_user, *command], check=check, stdout=subprocess.DEVNULL, cwd="/")

    def start(self) -> str:
        if self.as_user:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.folder / "data"), "-U", "postgres",
                  "--auth=trust", "-E", "UTF8", "--no-sync")  # fmt: skip
        self._pg_ctl("start")
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", "postgres", "custody")  # fmt: skip
        return self.url

    def _pg_ctl(self, action: str, *extra: str, check: bool = True) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -c max_connections=200"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-w",
                  "-l", str(self.folder / "server.log"), "-o", options, action, *extra,
                  check=check)  # fmt: skip

    def restart(self) -> None:
        """Stop at once, as a crash would (no checkpoint; recovery replays the WAL), and start."""
        self._pg_ctl("restart", "-m", "immediate")

    def stop(self) -> None:
        if (self.folder / "data" / "postmaster.pid").exists():
            self._pg_ctl("stop", "-m", "fast", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


class ServerDatabase:
    """A fresh database on the PostgreSQL server at 127.0.0.1:5432, dropped on stop."""

    def __init__(self, server: str = SERVER) -> None:
        self.server = server
        self.name = f"custody_layout_{secrets.token_hex(4)}"
        self.url = server.rsplit("/", 1)[0] + "/" + self.name

    def start(self) -> str:
        with psycopg.connect(self.server, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{self.name}"')
        return self.url

    def restart(self) -> None:
        raise RuntimeError("the shared server is not ours to restart: use --own-postgres")

    def stop(self) -> None:
        with psycopg.connect(self.server, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@dataclass
class Role:
    """One supervised process: restarted when it exits, until the layout stops."""

    name: str
    command: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    exits: list[int] = field(default_factory=list)  # each exit's status, -9 for kill -9

    @property
    def restarts(self) -> int:
        return len(self.exits)


@dataclass
class Layout:
    folder: Path
    own_postgres: bool = False
    web_workers: int = 4
    web_threads: int = 4
    job_runners: int = 2
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    roles: list[Role] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.url = f"http://127.0.0.1:{self.port}"
        self.postgres: OwnPostgres | ServerDatabase = (
            OwnPostgres() if self.own_postgres else ServerDatabase()
        )
        self.s3: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)

    # Starting and stopping -------------------------------------------------------------

    def start(self) -> Layout:
        self.folder.mkdir(parents=True, exist_ok=True)
        database_url = self.postgres.start()
        s3_endpoint = self._start_s3()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")},
            **S3_CREDENTIALS,
            "CUSTODY_DATABASE_URL": database_url.replace("postgresql://", "postgresql+psycopg://"),
            "CUSTODY_S3_BUCKET": BUCKET,
            "CUSTODY_S3_ENDPOINT_URL": s3_endpoint,
            "CUSTODY_DATA_DIR": str(self.folder / "data"),
            "CUSTODY_KEYS_DIR": str(self.folder / "keys"),
            "CUSTODY_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "CUSTODY_PUBLIC_URL": self.url,
            "PROMETHEUS_MULTIPROC_DIR": str(self.folder / "metrics"),
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        self.custody("db", "upgrade")  # the schema, and the signing keys on first run
        custody = [sys.executable, "-m", "api"]
        logs = self.folder / "logs"
        web = ["web", "--port", str(self.port), "--workers", str(self.web_workers)]
        web += ["--threads", str(self.web_threads)]
        self.roles = [Role("web", [*custody, *web], logs / "web.log")]
        self.roles.append(Role("scheduler", [*custody, "scheduler"], logs / "scheduler.log"))
        for n in range(self.job_runners):
            self.roles.append(Role(f"worker-{n + 1}", [*custody, "worker"], logs / f"w{n + 1}.log"))
        for role in self.roles:
            self._spawn(role)
        self._supervisor.start()
        wait_until("custody web", lambda: answers(f"{self.url}/readyz"))
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            for role in self.roles:
                if role.process is not None and role.process.poll() is None:
                    role.process.terminate()
            for role in self.roles:
                if role.process is not None:
                    try:
                        role.process.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        role.process.kill()
        if self.s3 is not None:
            self.s3.send_signal(signal.SIGCONT)  # should it be paused
            self.s3.terminate()
            self.s3.wait(timeout=10)
        self.postgres.stop()

    def custody(self, *arguments: str) -> str:
        """Run a `custody` command against the layout's database; its standard output."""
        done = subprocess.run(
            [sys.executable, "-m", "api", *arguments],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"custody {' '.join(arguments)} failed: {done.stderr[-2000:]}")
        return done.stdout

    def _start_s3(self) -> str:
        port = free_port()
        (self.folder / "logs").mkdir(exist_ok=True)
        with open(self.folder / "logs" / "s3.log", "wb") as log:  # a line per request
            self.s3 = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        endpoint = f"http://127.0.0.1:{port}"
        wait_until("the S3 server", lambda: answers(endpoint))
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=S3_CREDENTIALS["AWS_DEFAULT_REGION"],
        ).create_bucket(Bucket=BUCKET)
        return endpoint

    def _spawn(self, role: Role) -> None:
        with open(role.log, "ab") as log:
            role.process = subprocess.Popen(
                role.command, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.folder
            )

    def _supervise(self) -> None:
        while not self._stopping.wait(0.2):
            with self._lock:
                for role in self.roles:
                    if role.process is not None and role.process.poll() is not None:
                        if self._stopping.is_set():
                            return
                        role.exits.append(role.process.returncode)
                        time.sleep(RESTART_AFTER)
                        self._spawn(role)

    # Faults ------------------------------------------------------------------------------

    def role(self, name: str) -> Role:
        return next(role for role in self.roles if role.name == name)

    def web_workers_pids(self) -> list[int]:
        """The gunicorn worker processes (children of the web role's master)."""
        master = self.role("web").process
        assert master is not None
        children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def kill(self, name: str) -> int:
        """kill -9 a role's process ("web-worker" for one of gunicorn's workers); its pid."""
        if name == "web-worker":
            pid = self.web_workers_pids()[0]
        else:
            process = self.role(name).process
            assert process is not None
            pid = process.pid
        os.kill(pid, signal.SIGKILL)
        return pid

    def restart_postgres(self) -> None:
        self.postgres.restart()

    def pause_s3(self, seconds: float) -> None:
        """The S3 server stops answering for `seconds` (its process stopped, then resumed)."""
        assert self.s3 is not None
        os.kill(self.s3.pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.kill(self.s3.pid, signal.SIGCONT)


@contextmanager
def running(folder: Path | None = None, **options: object) -> Iterator[Layout]:
    """The whole layout, started, then stopped and cleaned away on the way out."""
    scratch = None if folder else tempfile.mkdtemp(prefix="custody-layout-")
    layout = Layout(folder or Path(scratch or ""), **options)  # type: ignore[arg-type]
    try:
        yield layout.start()
    finally:
        layout.stop()
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, help="keys, logs and data (default: a temp dir)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--own-postgres", action="store_true")
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--job-runners", type=int, default=2)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the layout on the way out
    options = {
        "port": args.port,
        "own_postgres": args.own_postgres,
        "web_workers": args.web_workers,
        "job_runners": args.job_runners,
    }
    with running(args.folder, **options) as layout:
        shared = {k: v for k, v in layout.env.items() if k.startswith(("CUSTODY_", "AWS_"))}
        env_file = layout.folder / "env"
        env_file.touch(mode=0o600)
        env_file.write_text("".join(f"{k}={v}\n" for k, v in sorted(shared.items())))
        print(f"custody: {layout.url} ({args.web_workers} web workers, 1 scheduler, "
              f"{args.job_runners} job runners); logs in {layout.folder / 'logs'}, "
              f"environment in {env_file}")  # fmt: skip
        with suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
