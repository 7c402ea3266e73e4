"""What a panic or a stalled server can do to a session: never leave it stuck.

A panic injected into a sink of a debug build (``ONAIR_TEST_PANIC_SINK_AFTER``)
must fail the session with ``internal`` and end the process; Stop pressed
while a connect hangs must act within a second. (Stop during a stalled
platform hook is in test_platform.py, next to the platform it stalls.)
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import pytest

from onair_testkit import onair, secrets


def test_a_panicking_sink_fails_the_session_with_internal(tmp_path):
    out = tmp_path / "panic.flv"
    env = dict(os.environ, ONAIR_TEST_PANIC_SINK_AFTER="30")
    session = onair.Session(
        ["live", f"file:{out}", "--video", "test", "--audio", "test", "--duration", "30", "--json"], env=env
    )
    failed = session.wait_for(lambda e: e.get("type") == "state" and e["state"] in ("failed", "ended"),
                              timeout=20)
    session.wait(10)
    assert failed["state"] == "failed", session.describe()
    assert failed["error"]["code"] == "internal", failed
    assert "internal error" in failed["error"]["message"], failed
    assert session.returncode == 1, session.describe()
    states = [e["state"] for e in session.events if e.get("type") == "state"]
    assert states[-1] == "failed" and "live" in states, states


@pytest.fixture
def black_hole():
    """A TCP server that accepts and never says a word (a hung ingest)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


def test_stop_during_a_hung_connect_acts_within_a_second(black_hole):
    session = onair.Session(
        ["live", f"rtmp://127.0.0.1:{black_hole}/live", "--key-stdin", "--video", "test", "--audio", "test", "--json"],
        stdin=secrets.SESSION.register("sk_hung_connect_0001") + "\n",
    )
    session.wait_for_state("connecting", timeout=15)
    time.sleep(0.5)
    asked = time.monotonic()
    session.proc.send_signal(signal.SIGINT)
    ended = session.wait_for(lambda e: e.get("type") == "state" and e["state"] in ("ended", "failed"), timeout=10)
    took = time.monotonic() - asked
    session.wait(10)
    assert ended["state"] == "ended" and session.returncode == 0, session.describe()
    assert took < 1.0, f"Stop took {took:.2f} s"


def test_stop_while_reconnecting_acts_within_a_second(tmp_path):
    from onair_testkit.nginx import Nginx

    with Nginx(tmp_path / "nginx") as server:
        key = secrets.SESSION.register("sk_reconnecting_0001")
        session = onair.Session(
            ["live", server.url("live"), "--key-stdin", "--video", "test", "--audio", "test", "--json"],
            stdin=key + "\n",
        )
        session.wait_for_state("live", timeout=20)
        server.kill()
        session.wait_for_state("reconnecting", timeout=20)
        time.sleep(0.5)
        asked = time.monotonic()
        session.proc.send_signal(signal.SIGINT)
        ended = session.wait_for(lambda e: e.get("type") == "state" and e["state"] in ("ended", "failed"),
                                 timeout=10)
        took = time.monotonic() - asked
        session.wait(10)
    assert ended["state"] == "ended" and session.returncode == 0, session.describe()
    assert took < 1.0, f"Stop took {took:.2f} s"
