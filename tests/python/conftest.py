"""Pytest fixtures for Weir's Python system tests.

Each test gets its own `weir serve` process on an ephemeral port with its own
temporary data directory (the `broker` fixture), so tests are independent
and could run in parallel. The broker binary is `target/debug/weir` unless
the WEIR_BIN environment variable names another. Helpers that read the
broker's on-disk segments (to check what was actually stored) live in
`weir_files.py`; client-specific code lives in the test modules.
"""

import os
import pathlib
import queue
import signal
import subprocess
import threading
import time

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
READY_PREFIX = "weir listening on "
# Generous upper bound for start/stop; it only turns a hang into a failure.
WAIT_S = 60
LOG_TAIL_LINES = 80


def weir_bin() -> str:
    return os.environ.get("WEIR_BIN") or str(REPO_ROOT / "target" / "debug" / "weir")


class Broker:
    """A `weir serve` child process and its data directory."""

    def __init__(self, data_dir: pathlib.Path, log_dir: pathlib.Path, args):
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.args = list(args)
        self.proc = None
        self.port = None
        self.starts = 0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log_path(self, start: int) -> pathlib.Path:
        return self.log_dir / f"stderr-{start}.log"

    def start(self):
        assert self.proc is None, "broker already running"
        self.starts += 1
        stderr = open(self.log_path(self.starts), "wb")
        cmd = [weir_bin(), "serve", "--listen", "127.0.0.1:0",
               "--data-dir", str(self.data_dir), *self.args]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=stderr)
        stderr.close()
        line = _first_line(self.proc.stdout, WAIT_S)
        if line is None or not line.startswith(READY_PREFIX):
            self.kill()
            raise RuntimeError(f"weir did not start (first line {line!r})\n{self.log_tail()}")
        self.port = int(line[len(READY_PREFIX):].strip().rsplit(":", 1)[1])

    def stop(self) -> int:
        """SIGTERM, wait, and return the exit code."""
        proc, self.proc = self.proc, None
        if proc is None:
            return 0
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"weir ignored SIGTERM for {WAIT_S}s\n{self.log_tail()}")

    def kill(self):
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.kill()
            proc.wait()

    def restart(self):
        self.stop()
        self.start()

    def log_tail(self) -> str:
        out = []
        for start in range(1, self.starts + 1):
            try:
                lines = self.log_path(start).read_text(errors="replace").splitlines()
            except OSError:
                lines = ["(no log)"]
            out.append(f"--- weir stderr (start {start}) ---")
            out.extend(lines[-LOG_TAIL_LINES:])
        return "\n".join(out)


def _first_line(stream, timeout_s):
    """Reads one line on a thread (then drains the pipe), with a deadline."""
    lines = queue.Queue(maxsize=1)

    def reader():
        line = stream.readline()
        lines.put(line.decode(errors="replace"))
        for _ in iter(lambda: stream.read(4096), b""):
            pass

    threading.Thread(target=reader, daemon=True).start()
    try:
        return lines.get(timeout=timeout_s) or None
    except queue.Empty:
        return None


def _start_broker(tmp_path, args):
    data_dir = tmp_path / "data"
    log_dir = tmp_path / "log"
    data_dir.mkdir()
    log_dir.mkdir()
    broker = Broker(data_dir, log_dir, args)
    broker.start()
    return broker


@pytest.fixture
def broker_factory(tmp_path):
    """Starts brokers with extra `weir serve` flags; stops them after the test
    and fails the test if a broker did not exit cleanly on SIGTERM."""
    started = []

    def make(*args):
        sub = tmp_path / f"broker{len(started)}"
        sub.mkdir()
        broker = _start_broker(sub, args)
        started.append(broker)
        return broker

    yield make
    for broker in started:
        running = broker.proc is not None
        code = broker.stop()
        print(broker.log_tail())
        if running:
            assert code == 0, f"weir exited with {code} after SIGTERM"


@pytest.fixture
def broker(broker_factory):
    """A fresh broker with default settings and 3 partitions per auto-created topic."""
    return broker_factory("--num-partitions", "3")


def wait_until(predicate, what: str, timeout_s: float = WAIT_S, interval_s: float = 0.1):
    """Polls `predicate` until it returns a truthy value; fails after timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval_s)
