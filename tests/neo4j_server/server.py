"""A real Neo4j 5 server for the tests, the benchmarks and a developer's shell.

The server is Neo4j Community 5.26 (the pinned version is in ``pom.xml`` beside
this file), fetched from Maven Central by Maven into the user's Maven
repository and started as its own distribution starts it:
``org.neo4j.server.CommunityEntryPoint`` on the artifacts' class path, with a
home folder of its own (configuration, data, logs) and authentication on. The
initial password is set with Neo4j's own ``dbms set-initial-password`` admin
command before the first start.

Used three ways:

* the test suite's session fixture (``tests/conftest.py``) starts one server for
  the whole run and stops it at the end;
* the benchmarks (``bench/neo4j_bench.py``) start one on a folder of their own;
* by hand: ``python tests/neo4j_server/server.py`` starts one in the
  foreground, prints the ``GRAPHSVC_*`` settings that point graphsvc at it, and
  stops it on Ctrl-C (``--home DIR`` keeps its data between starts).

Needs ``java`` (17 or 21) and ``mvn`` on ``PATH``; ``make system-deps`` installs
them on Debian.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

HERE = Path(__file__).resolve().parent
POM = HERE / "pom.xml"
MAIN_CLASS = "org.neo4j.server.CommunityEntryPoint"
ADMIN_CLASS = "org.neo4j.server.startup.Neo4jAdminCommand"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "graphsvc-neo4j"


def _die_with_parent() -> None:
    """In the child: ask Linux to stop the server when the process that started it dies.

    A test run killed with SIGKILL runs no fixture teardown; without this its
    Neo4j server would keep running (and eating a core) until someone notices.
    """
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class Neo4jServerError(RuntimeError):
    """The server could not be fetched or started (the message says which step and why)."""


def pinned_version() -> str:
    """The Neo4j version ``pom.xml`` pins."""
    found = re.search(r"<neo4j\.version>([^<]+)</neo4j\.version>", POM.read_text())
    if not found:
        msg = f"{POM}: no <neo4j.version> property"
        raise Neo4jServerError(msg)
    return found.group(1).strip()


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        msg = (
            f"`{name}` is not on PATH: the Neo4j test server needs a JDK (17 or 21) and "
            "Maven (`make system-deps` installs both on Debian)"
        )
        raise Neo4jServerError(msg)
    return path


def classpath(*, log: bool = True) -> str:
    """The server's class path, resolved by Maven (downloads on first use, then cached).

    The class path text is kept under ``~/.cache/graphsvc-neo4j`` keyed by the
    pom's digest and used while every jar it names is still in the Maven
    repository.

    Raises:
        Neo4jServerError: when Java or Maven is missing or Maven cannot resolve
            the artifacts (no network and nothing cached).
    """
    _tool("java")
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:16]
    cached = CACHE / f"classpath-{digest}.txt"
    if cached.exists():
        text = cached.read_text().strip()
        if text and all(Path(p).exists() for p in text.split(os.pathsep)):
            return text
    mvn = _tool("mvn")
    CACHE.mkdir(parents=True, exist_ok=True)
    out = CACHE / f"classpath-{digest}.tmp"
    if log:
        print(f"neo4j test server: resolving Neo4j {pinned_version()} with Maven", file=sys.stderr)
    done = subprocess.run(
        [mvn, "-q", "-B", "-f", str(POM), "dependency:build-classpath", f"-Dmdep.outputFile={out}"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0 or not out.exists():
        tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
        msg = "Maven could not resolve the Neo4j server artifacts:\n" + "\n".join(tail)
        raise Neo4jServerError(msg)
    out.replace(cached)
    return cached.read_text().strip()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Neo4jConnection:
    """Where a started server answers, and how to sign in."""

    bolt_port: int
    user: str
    password: str
    database: str = "neo4j"

    @property
    def bolt_uri(self) -> str:
        """``bolt://`` (direct) URI."""
        return f"bolt://127.0.0.1:{self.bolt_port}"

    @property
    def routing_uri(self) -> str:
        """``neo4j://`` (routing) URI: the driver asks the server for its routing table."""
        return f"neo4j://127.0.0.1:{self.bolt_port}"

    def env(self, *, routing: bool = False) -> dict[str, str]:
        """The ``GRAPHSVC_*`` settings that point graphsvc at this server."""
        return {
            "GRAPHSVC_STORE": "neo4j",
            "GRAPHSVC_NEO4J_URI": self.routing_uri if routing else self.bolt_uri,
            "GRAPHSVC_NEO4J_USER": self.user,
            "GRAPHSVC_NEO4J_PASSWORD": self.password,
            "GRAPHSVC_NEO4J_DATABASE": self.database,
        }


class Neo4jServer:
    """One Neo4j Community server process on a home folder.

    Args:
        home: The server's home folder (conf, data, logs); created when missing.
            A new temporary folder, removed on :meth:`stop`, when ``None``.
        heap: JVM heap (``-Xmx``), e.g. ``"1g"``.
        page_cache: Neo4j page cache size, e.g. ``"512m"``.
        password: The ``neo4j`` user's password; a random one when ``None``
            (ignored when ``home`` already holds a database: its password, kept in
            ``home/password.txt``, stays).
    """

    def __init__(
        self,
        home: Path | None = None,
        *,
        heap: str = "1g",
        page_cache: str = "512m",
        password: str | None = None,
    ) -> None:
        self._owns_home = home is None
        self.home = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="neo4j-"))
        self.heap = heap
        self.page_cache = page_cache
        self._password = password or f"gs-{secrets.token_hex(12)}"
        self._process: subprocess.Popen[bytes] | None = None
        self.connection: Neo4jConnection | None = None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def _configure(self, bolt_port: int) -> None:
        for sub in ("conf", "data", "logs", "run", "plugins", "import", "licenses"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        (self.home / "conf" / "neo4j.conf").write_text(
            "\n".join(
                [
                    "# written by tests/neo4j_server/server.py",
                    "server.default_listen_address=127.0.0.1",
                    "server.default_advertised_address=127.0.0.1",
                    f"server.bolt.listen_address=127.0.0.1:{bolt_port}",
                    f"server.bolt.advertised_address=127.0.0.1:{bolt_port}",
                    "server.http.enabled=false",
                    "server.https.enabled=false",
                    "dbms.security.auth_enabled=true",
                    "dbms.usage_report.enabled=false",
                    f"server.memory.pagecache.size={self.page_cache}",
                    "db.tx_log.rotation.retention_policy=100M size",
                    "server.directories.import=import",
                    "",
                ]
            )
        )

    def _java(self, main: str, *args: str, cp: str) -> list[str]:
        return [
            _tool("java"),
            "-cp",
            cp,
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-XX:-OmitStackTraceInFastThrow",
            "-Dfile.encoding=UTF-8",
            main,
            f"--home-dir={self.home}",
            f"--config-dir={self.home / 'conf'}",
            *args,
        ]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["NEO4J_HOME"] = str(self.home)
        env["NEO4J_CONF"] = str(self.home / "conf")
        return env

    def _set_initial_password(self, cp: str) -> None:
        kept = self.home / "password.txt"
        if (self.home / "data" / "dbms").exists() and kept.exists():
            self._password = kept.read_text().strip()  # an existing database keeps its own
            return
        cmd = [_tool("java"), "-cp", cp, "-Xmx256m", ADMIN_CLASS]
        done = subprocess.run(
            [*cmd, "dbms", "set-initial-password", self._password],
            capture_output=True,
            text=True,
            env=self._env(),
            timeout=180,
            check=False,
        )
        if done.returncode != 0:
            msg = f"neo4j-admin dbms set-initial-password failed: {done.stdout}{done.stderr}"
            raise Neo4jServerError(msg)
        kept.write_text(self._password + "\n")
        kept.chmod(0o600)

    def start(self, *, timeout: float = 180.0) -> Neo4jConnection:
        """Start the server and wait until Bolt answers a signed-in query.

        Raises:
            Neo4jServerError: when it exits or does not answer within ``timeout``.
        """
        if self._process is not None:
            assert self.connection is not None
            return self.connection
        cp = classpath()
        port = free_port()
        self._configure(port)
        self._set_initial_password(cp)
        log = (self.home / "logs" / "console.log").open("ab")
        self._process = subprocess.Popen(
            self._java(MAIN_CLASS, cp=cp),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self._env(),
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log.close()
        self.connection = Neo4jConnection(port, "neo4j", self._password)
        try:
            self._wait_until_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self.connection

    def _wait_until_ready(self, timeout: float) -> None:
        import neo4j

        assert self._process is not None and self.connection is not None
        deadline = time.monotonic() + timeout
        last: BaseException | None = None
        auth = (self.connection.user, self.connection.password)
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                msg = f"Neo4j exited with {self._process.returncode} while starting:\n{self.log_tail()}"
                raise Neo4jServerError(msg)
            try:
                with socket.create_connection(("127.0.0.1", self.connection.bolt_port), 1.0):
                    pass
                with (
                    neo4j.GraphDatabase.driver(
                        self.connection.bolt_uri, auth=auth, max_transaction_retry_time=0
                    ) as driver,
                    driver.session(database=self.connection.database) as session,
                ):
                    session.run("RETURN 1").consume()
                return
            except (neo4j.exceptions.DriverError, neo4j.exceptions.Neo4jError, OSError) as exc:
                last = exc
                time.sleep(0.25)
        msg = f"Neo4j did not answer within {timeout:.0f} s ({last}):\n{self.log_tail()}"
        raise Neo4jServerError(msg)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server's own log (for error messages)."""
        for name in ("neo4j.log", "console.log"):
            path = self.home / "logs" / name
            if path.exists():
                return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def stop(self, *, timeout: float = 60.0, keep_data: bool = True) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout``); remove a temporary home.

        Args:
            timeout: Seconds a clean shutdown may take before the server is killed.
            keep_data: Shut down cleanly (a checkpoint, 5-7 s). ``False``: kill at
                once, for a server whose data is thrown away (the test session's).
        """
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM if keep_data else signal.SIGKILL)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        if self._owns_home:
            shutil.rmtree(self.home, ignore_errors=True)

    def rss_bytes(self) -> int | None:
        """The server process's resident memory now (Linux), or ``None``."""
        return _status_bytes(self.pid, "VmRSS")

    def peak_rss_bytes(self) -> int | None:
        """The server process's peak resident memory so far (Linux ``VmHWM``), or ``None``."""
        return _status_bytes(self.pid, "VmHWM")

    def __enter__(self) -> Neo4jConnection:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _status_bytes(pid: int | None, field: str) -> int | None:
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def main() -> int:
    """Start a server in the foreground and print how to point graphsvc at it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, help="keep the server's data here between starts")
    parser.add_argument("--password", default=None, help="initial password (new home only)")
    parser.add_argument("--heap", default="1g")
    parser.add_argument("--page-cache", default="512m")
    args = parser.parse_args()
    server = Neo4jServer(
        args.home, heap=args.heap, page_cache=args.page_cache, password=args.password
    )
    conn = server.start()
    print(f"Neo4j {pinned_version()} answers on {conn.bolt_uri} (home {server.home})")
    for name, value in conn.env().items():
        print(f"export {name}={value}")
    print("Ctrl-C stops it.")
    try:
        while server._process is not None and server._process.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
