"""The two child processes of a run: the demo server and the load generator worker.

Both are plain subprocesses of the runner, started with the runner's own interpreter, so the
server, the clients and the runner never share an event loop, a GIL or an allocator.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from .server import DEFAULT_APP
from .worker import WORKER_ENV


class HarnessProcessError(RuntimeError):
    """A child process did not start, answered nonsense, or died; its log is named."""


def _read_line(stream: IO[str], timeout: float, what: str, log: Path | None) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        raise HarnessProcessError(f"{what} said nothing for {timeout:.0f} s (log: {log})")
    line = stream.readline()
    if not line:
        raise HarnessProcessError(f"{what} exited unexpectedly (log: {log})")
    return line


class ServerProcess:
    """``python -m rxspike.harness.server`` on a free port, optionally tracked by memray.

    Use as a context manager; leaving it sends SIGTERM and waits for the server to write its
    capture and exit (SIGKILL after ``stop_timeout`` seconds).
    """

    def __init__(
        self,
        *,
        memray: Path | None = None,
        stats: Path | None = None,
        log: Path | None = None,
        app: str = DEFAULT_APP,
        start_timeout: float = 30.0,
        stop_timeout: float = 60.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.extra_args = list(extra_args)
        self.memray = memray
        self.stats = stats
        self.log = log
        self.app = app
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.port = 0
        self._process: subprocess.Popen[str] | None = None
        self._log_file: IO[str] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "rxspike.harness.server", "--port", "0"]
        command += ["--app", self.app]
        if self.memray is not None:
            command += ["--memray", str(self.memray)]
        if self.stats is not None:
            command += ["--stats", str(self.stats)]
        return command + self.extra_args

    def start(self) -> ServerProcess:
        if self.log is not None:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = self.log.open("w")
        self._process = subprocess.Popen(
            self.command(),
            stdout=subprocess.PIPE,
            stderr=self._log_file if self._log_file is not None else subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        if self._process.stdout is None:  # pragma: no cover - Popen(stdout=PIPE) sets it
            raise HarnessProcessError("the server's stdout is not a pipe")
        line = _read_line(self._process.stdout, self.start_timeout, "the server", self.log)
        try:
            self.port = int(json.loads(line)["port"])
        except (ValueError, KeyError) as error:
            self.stop()
            raise HarnessProcessError(f"the server's ready line was {line!r}") from error
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown, no goodbye (the worker-killed scenario)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()

    def stop(self) -> int | None:
        """SIGTERM, wait, SIGKILL if needed; returns the exit status. Idempotent."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return process.returncode

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class WorkerProcess:
    """``python -m rxspike.harness.worker``: the load generator, one pass per command."""

    def __init__(self, *, log: Path | None = None) -> None:
        self.log = log
        self._process: subprocess.Popen[str] | None = None
        self._log_file: IO[str] | None = None

    def start(self) -> WorkerProcess:
        if self.log is not None:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = self.log.open("w")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "rxspike.harness.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_file if self._log_file is not None else subprocess.DEVNULL,
            text=True,
            env={**os.environ, **WORKER_ENV},
        )
        return self

    def run(self, command: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one pass command and wait for its summary."""
        process = self._process
        if process is None or process.stdin is None or process.stdout is None:
            raise HarnessProcessError("the load generator is not running")
        process.stdin.write(json.dumps(command) + "\n")
        process.stdin.flush()
        line = _read_line(process.stdout, timeout, "the load generator", self.log)
        answer = json.loads(line)
        if not answer.get("ok"):
            raise HarnessProcessError(f"the load generator failed: {answer.get('error')}")
        result: dict[str, Any] = answer["pass"]
        return result

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class RedisServer:
    """``redis-server`` on a free port with nothing persisted, for the Redis-backed feed.

    Started fresh for each pass, so every pass's feed starts empty.
    """

    def __init__(self, *, log: Path | None = None, start_timeout: float = 10.0) -> None:
        self.log = log
        self.start_timeout = start_timeout
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        import shutil
        import socket

        binary = shutil.which("redis-server")
        if binary is None:
            raise HarnessProcessError(
                "redis-server is not installed (apt-get install redis-server)"
            )
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        out = self.log.open("ab") if self.log is not None else subprocess.DEVNULL
        self._process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return self
            time.sleep(0.02)
        self.stop()
        raise HarnessProcessError(
            f"redis-server did not listen on port {self.port} (log: {self.log})"
        )

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
