"""Finding and running the ``onair`` CLI, and reading its ``--json`` events.

The binary is ``$ONAIR_BIN`` if set, else ``debug/onair`` under
``$CARGO_TARGET_DIR``, else under ``~/.cache/onair/target`` (where the
project's scripts build it), else ``target/debug/onair`` in the repository.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

from . import secrets

REPO = Path(__file__).resolve().parents[2]
BUILD_HINT = (
    "build it with: cd {repo} && CARGO_TARGET_DIR=$HOME/.cache/onair/target "
    "cargo build -p onair-cli (or point ONAIR_BIN at a binary)"
)


class OnairNotFound(RuntimeError):
    pass


def candidates() -> list[Path]:
    """Where the binary is looked for, in order."""
    if os.environ.get("ONAIR_BIN"):
        return [Path(os.environ["ONAIR_BIN"]).expanduser()]
    found = []
    if os.environ.get("CARGO_TARGET_DIR"):
        found.append(Path(os.environ["CARGO_TARGET_DIR"]).expanduser() / "debug" / "onair")
    found.append(Path.home() / ".cache" / "onair" / "target" / "debug" / "onair")
    found.append(REPO / "target" / "debug" / "onair")
    return found


def onair_bin() -> Path:
    """Path of the onair binary to test; raises OnairNotFound with a hint."""
    for path in candidates():
        if path.is_file() and os.access(path, os.X_OK):
            return path
    looked = ", ".join(str(p) for p in candidates())
    raise OnairNotFound(f"no onair binary at {looked}; " + BUILD_HINT.format(repo=REPO))


def parse_events(stdout: str) -> tuple[list[dict], list[str]]:
    """The JSON objects in ``--json`` output, and any lines that were not JSON
    objects (there should be none)."""
    events, stray = [], []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            stray.append(line)
            continue
        if isinstance(obj, dict):
            events.append(obj)
        else:
            stray.append(line)
    return events, stray


def states(events: Sequence[dict]) -> list[str]:
    """The session states in the order they were announced."""
    return [e["state"] for e in events if e.get("type") == "state"]


def of_type(events: Sequence[dict], kind: str) -> list[dict]:
    return [e for e in events if e.get("type") == kind]


def failure(events: Sequence[dict]) -> Optional[dict]:
    """The ``error`` object of the first ``failed`` state, if any."""
    for e in events:
        if e.get("type") == "state" and e.get("state") == "failed":
            return e.get("error") or {}
    return None


@dataclass
class Run:
    """A finished onair process."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    events: list[dict] = field(default_factory=list)
    stray: list[str] = field(default_factory=list)

    @property
    def states(self) -> list[str]:
        return states(self.events)

    @property
    def error(self) -> Optional[dict]:
        return failure(self.events)

    def of_type(self, kind: str) -> list[dict]:
        return of_type(self.events, kind)

    def describe(self) -> str:
        """For assertion messages."""
        return (
            f"onair {' '.join(self.args)} -> exit {self.returncode} after {self.seconds:.1f} s\n"
            f"--- stdout ---\n{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}"
        )


def run(
    args: Sequence[str],
    timeout: float = 60,
    stdin: Optional[str] = None,
    env: Optional[dict] = None,
    reveals: Iterable[str] = (),
    wrap: Sequence[str] = (),
) -> Run:
    """Runs ``onair ARGS`` to completion and collects its output. ``wrap``
    prefixes the command (e.g. ``janus.netns_prefix``: ip netns exec NS).

    Its stdout and stderr, and the process list while it runs, go to the
    session's secret scan; ``reveals`` names secrets this run may print on
    stdout (``keys show --reveal``)."""
    binary = onair_bin()
    label = "onair " + " ".join(args)
    started = time.monotonic()
    proc = subprocess.Popen(
        [*wrap, str(binary), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    # The child is running (often waiting for stdin): its command line is visible now.
    secrets.SESSION.snapshot_processes(label, proc.pid)
    try:
        stdout, stderr = proc.communicate(input=stdin if stdin is not None else "", timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        secrets.SESSION.record_output(label, stdout + stderr)
        raise
    secrets.SESSION.record_output(label + " (stdout)", stdout, allowed=reveals)
    secrets.SESSION.record_output(label + " (stderr)", stderr)
    events, stray = parse_events(stdout)
    return Run(
        args=list(args),
        returncode=proc.returncode,
        stdout=stdout,
        stderr=stderr,
        seconds=time.monotonic() - started,
        events=events,
        stray=stray,
    )


class Session:
    """A running ``onair live ... --json``, for suites that need to act while
    it is live (start a receiver once it is live, stop it with Ctrl-C)::

        with Session(["live", url, "--json"]) as s:
            s.wait_for_state("live", timeout=10)
            ...
            s.stop()
        assert s.returncode == 0
    """

    def __init__(
        self,
        args: Sequence[str],
        stdin: Optional[str] = None,
        env: Optional[dict] = None,
        wrap: Sequence[str] = (),
        keep_stdin: bool = False,
    ):
        """``wrap`` prefixes the command (e.g. ``ip netns exec NS``);
        ``keep_stdin`` leaves stdin open for ``send`` (``--control-stdin``)."""
        self.args = list(args)
        self.events: list[dict] = []
        self.stray: list[str] = []
        self._queue: "queue.Queue[Optional[dict]]" = queue.Queue()
        self._stderr: list[str] = []
        self.proc = subprocess.Popen(
            [*wrap, str(onair_bin()), *self.args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._label = "onair " + " ".join(self.args)
        self._recorded = False
        secrets.SESSION.snapshot_processes(self._label, self.proc.pid)
        if stdin is not None:
            self.proc.stdin.write(stdin)
        if keep_stdin:
            self.proc.stdin.flush()
        else:
            self.proc.stdin.close()
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=lambda: self._stderr.extend(self.proc.stderr), daemon=True),
        ]
        for t in self._readers:
            t.start()

    def _read_stdout(self) -> None:
        for line in self.proc.stdout:
            events, stray = parse_events(line)
            self.stray += stray
            for e in events:
                self.events.append(e)
                self._queue.put(e)
        self._queue.put(None)

    def send(self, line: str) -> None:
        """One line on stdin (a ``--control-stdin`` command)."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def next_event(self, timeout: float) -> Optional[dict]:
        """The next event, or None once the process has closed its output.
        Raises TimeoutError if nothing arrives in time."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no event from onair within {timeout} s") from None

    def iter_events(self, timeout: float) -> Iterator[dict]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"onair still running after {timeout} s")
            event = self.next_event(left)
            if event is None:
                return
            yield event

    def wait_for_state(self, state: str, timeout: float) -> dict:
        """Waits for a state event; raises if the session failed or ended first."""
        for event in self.iter_events(timeout):
            if event.get("type") != "state":
                continue
            if event.get("state") == state:
                return event
            if event.get("state") in ("failed", "ended"):
                raise AssertionError(f"onair reached {event} while waiting for {state}")
        raise AssertionError(f"onair exited before reaching {state}: {self.stderr[-2000:]}")

    def wait_for(self, predicate, timeout: float) -> dict:
        """Waits for the first event that satisfies ``predicate``."""
        for event in self.iter_events(timeout):
            if predicate(event):
                return event
        raise AssertionError(f"onair exited before the awaited event: {self.stderr[-2000:]}")

    def describe(self) -> str:
        """For assertion messages."""
        lines = "\n".join(json.dumps(e) for e in self.events[-40:])
        return (
            f"onair {' '.join(self.args)} -> exit {self.returncode}\n"
            f"--- events ---\n{lines}\n--- stderr ---\n{self.stderr[-4000:]}"
        )

    def stop(self, timeout: float = 15) -> int:
        """Ctrl-C, as a user would, then waits for the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.wait(timeout)

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        for t in self._readers:
            t.join(timeout=5)
        self._record()
        return code

    def _record(self) -> None:
        if not self._recorded:
            self._recorded = True
            lines = [json.dumps(e) for e in self.events] + self.stray + [self.stderr]
            secrets.SESSION.record_output(self._label, "\n".join(lines))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._record()

    @property
    def returncode(self) -> Optional[int]:
        return self.proc.returncode

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    @property
    def states(self) -> list[str]:
        return states(self.events)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.kill()
